r"""Each input that readers used to accept silently, built from a real file: now a clear
:class:`DataFormatError` naming the file (and the line where there is one)."""

import gzip
import shutil

import pytest
import torch

from graphcl.data.errors import DataFormatError
from graphcl.data.readers import read


def _copy(src, dst):
    r"""A copy of a real file or folder to edit (the test is skipped when it is absent)."""
    if not src.exists():
        pytest.skip(f"{src} not present")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst


@pytest.mark.parametrize("name, fmt", [("collegemsg/CollegeMsg.txt", "snap-temporal"),
                                       ("bitcoin-otc/soc-sign-bitcoinotc.csv", "snap-signed")])
def test_truncated_last_line(data_root, tmp_path, name, fmt):
    f = _copy(data_root / name, tmp_path / "data.txt")
    text = f.read_bytes().rstrip(b"\n")
    f.write_bytes(text[:-3])  # cut inside the last timestamp, no newline left
    with pytest.raises(DataFormatError, match="looks truncated") as e:
        read(f, fmt, warn_unsorted=False)
    assert e.value.row is not None
    f.write_bytes(text)  # intact but without the final newline: still fine
    read(f, fmt, warn_unsorted=False)


def test_snap_signed_third_column_is_not_a_sign(data_root, tmp_path):
    src = data_root / "collegemsg" / "CollegeMsg.txt"
    f = _copy(src, tmp_path / "uci.txt")
    with pytest.raises(DataFormatError, match="is not a sign"):
        read(f, "snap-signed")  # its third column is a timestamp
    otc = _copy(data_root / "bitcoin-otc" / "soc-sign-bitcoinotc.csv", tmp_path / "otc.csv")
    rows = otc.read_text().splitlines()
    a, b, r, t = rows[5].split(",")
    rows[5] = ",".join([a, b, t, r])  # rating and time swapped in one row
    otc.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match="rating .* is not an integer rating") as e:
        read(otc, "snap-signed", warn_unsorted=False)
    assert e.value.row == 6


def test_jodie_item_below_the_item_range(data_root, tmp_path):
    f = _copy(data_root / "jodie-wikipedia-nofeat" / "wikipedia_uitl.csv", tmp_path / "w.csv")
    good = read(f, "jodie")
    assert good.num_nodes == 9227
    rows = f.read_text().splitlines()
    u, i, *rest = rows[10].split(",")
    rows[10] = ",".join([u, "17", *rest])  # an item id inside the user range
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match="item id 17 is inside the user id range") as e:
        read(f, "jodie")
    assert e.value.row == 11


def test_tu_graph_ids_with_a_gap(data_root, tmp_path):
    dst = _copy(data_root / "tu" / "MUTAG" / "raw", tmp_path / "MUTAG")
    ind = dst / "MUTAG_graph_indicator.txt"
    ids = [int(x) for x in ind.read_text().split()]
    ind.write_text("\n".join(str(g + 1 if g >= 5 else g) for g in ids) + "\n")  # no graph 5
    with pytest.raises(DataFormatError, match="graph 5 has no nodes"):
        read(dst, "tu")


@pytest.mark.parametrize("change, message", [
    (lambda idx: idx[:-1] + [idx[0]], "appears twice"),
    (lambda idx: idx[:-1] + [10**12], "is past the"),
])
def test_planetoid_test_index(data_root, tmp_path, change, message):
    dst = _copy(data_root / "planetoid" / "Cora" / "raw", tmp_path / "Cora")
    f = dst / "ind.cora.test.index"
    idx = [int(x) for x in f.read_text().split()]
    f.write_text("\n".join(map(str, change(idx))) + "\n")
    with pytest.raises(DataFormatError, match=message) as e:
        read(dst, "planetoid")
    assert str(f) in str(e.value) and e.value.row is not None


def test_ogb_valid_without_negatives(data_root, tmp_path):
    dst = _copy(data_root / "ogbl-ddi", tmp_path / "ogbl_ddi")
    valid = dst / "split" / "target" / "valid.pt"
    from graphcl.data.readers import _safe_torch_load

    d = _safe_torch_load(valid)
    torch.save({"edge": torch.as_tensor(d["edge"])}, valid)
    with pytest.raises(DataFormatError, match="valid split has no negatives"):
        read(dst, "ogb-linkprop")


@pytest.mark.parametrize("what", ["missing", "short"])
def test_idx_labels_missing_or_mismatched(data_root, tmp_path, what):
    src = data_root / "mnist" / "raw"
    if not src.exists():
        pytest.skip("MNIST not present")
    dst = tmp_path / "mnist"
    dst.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(src / name, dst / name)
    labels = dst / "t10k-labels-idx1-ubyte.gz"
    if what == "missing":
        labels.unlink()
        match = "no test_labels"
    else:  # 10,000 labels -> 9,999: header count and body both shortened
        raw = bytearray(gzip.decompress(labels.read_bytes()))
        raw[4:8] = (9999).to_bytes(4, "big")
        labels.write_bytes(gzip.compress(bytes(raw[:-1])))
        match = "10000 items but test_labels has 9999"
    with pytest.raises(DataFormatError, match=match):
        read(dst, "idx")


def test_double_crlf_and_corrupt_gzip_are_named(data_root, tmp_path):
    src = data_root / "bitcoin-otc" / "soc-sign-bitcoinotc.csv"
    f = _copy(src, tmp_path / "otc.csv")
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\r\n"))
    with pytest.raises(DataFormatError, match="converted twice"):
        read(f, "snap-signed", warn_unsorted=False)
    gz = tmp_path / "otc.csv.gz"
    body = bytearray(gzip.compress(src.read_bytes()))
    body[len(body) // 2] ^= 0xFF
    gz.write_bytes(bytes(body))
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        read(gz, "snap-signed", warn_unsorted=False)
