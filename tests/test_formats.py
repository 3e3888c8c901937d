r"""The npz and edgelist formats and PyG dataset folders: real files, hand-made files, and the
malformed variants each must refuse with the file and line."""

import gzip
import json

import numpy as np
import pytest
import torch

from graphcl.data.errors import DataFormatError
from graphcl.data.readers import infer_format, read


@pytest.fixture()
def cora_ml(data_root):
    path = data_root / "citationfull" / "cora_ml" / "raw" / "cora_ml.npz"
    if not path.is_file():
        pytest.skip("Cora-ML not present")
    return path


def test_npz_equals_pyg_read_npz(cora_ml):
    from torch_geometric.io import read_npz as pyg_read_npz

    ours, theirs = read(cora_ml), pyg_read_npz(str(cora_ml))
    assert infer_format(cora_ml) == "npz"
    assert ours.num_nodes == 2995 and ours.edge_index.size(1) == 16316
    assert torch.equal(ours.edge_index, theirs.edge_index)
    assert torch.equal(ours.x, theirs.x) and torch.equal(ours.y, theirs.y)
    # a PyG dataset folder (<root>/<name> with raw/) and the raw folder read the same
    assert torch.equal(read(cora_ml.parent.parent).edge_index, ours.edge_index)
    assert torch.equal(read(cora_ml.parent, "npz").x, ours.x)


def test_pyg_dataset_folder_for_planetoid(data_root):
    folder = data_root / "planetoid" / "Cora"
    a, b = read(folder), read(folder / "raw", "planetoid")
    assert torch.equal(a.edge_index, b.edge_index) and a.num_nodes == 2708


def _npz(tmp_path, **arrays):
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)
    return path


def _good():
    # 3 nodes: 0-1, 1-2 and a self loop on 2 (dropped); attributes 3x2; labels
    return dict(adj_data=np.ones(3), adj_indices=np.array([1, 2, 2]),
                adj_indptr=np.array([0, 1, 2, 3]), adj_shape=np.array([3, 3]),
                attr_data=np.array([2.0, 0.5]), attr_indices=np.array([0, 1]),
                attr_indptr=np.array([0, 1, 1, 2]), attr_shape=np.array([3, 2]),
                labels=np.array([0, 1, 1]))


def test_npz_by_hand(tmp_path):
    d = read(_npz(tmp_path, **_good()), "npz")
    assert d.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert d.x.tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]  # binarised
    assert d.y.tolist() == [0, 1, 1]


@pytest.mark.parametrize("change, message", [
    ({"adj_indptr": np.array([0, 1, 2])}, "row pointer"),
    ({"adj_indices": np.array([1, 2, 7])}, "outside 0..2"),
    ({"adj_shape": np.array([3, 4])}, "not square"),
    ({"labels": np.array([0, 1])}, "labels must be 3"),
    ({"labels": np.array([0.5, 1, 1])}, "labels must be 3"),
    ({"attr_shape": np.array([4, 2]), "attr_indptr": np.array([0, 1, 1, 2, 2])}, "4 rows"),
    ({"adj_data": np.array([1.0, np.nan, 1.0])}, "non-finite"),
    ({"adj_data": None}, "missing arrays"),
    ({"labels": np.array(["a", None, 3], dtype=object)}, "unpickling"),
])
def test_npz_malformed(tmp_path, change, message):
    arrays = {**_good(), **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    with pytest.raises(DataFormatError, match=message):
        read(_npz(tmp_path, **arrays), "npz")


def test_npz_not_an_archive(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="not a readable .npz"):
        read(p, "npz")


def test_edgelist_static_string_ids_with_header(tmp_path):
    p = tmp_path / "friends.csv"
    p.write_text("source,target,weight\nbob,alice,2.5\ncarol,bob,1\nalice,carol,0.5\n")
    d = read(p, "edgelist")
    assert d.node_names == ["alice", "bob", "carol"]
    assert d.edge_index.tolist() == [[1, 2, 0], [0, 1, 2]]
    assert d.edge_weight.tolist() == [2.5, 1.0, 0.5] and d.num_nodes == 3


def test_edgelist_temporal_sorted_with_sign(tmp_path):
    p = tmp_path / "events.tsv"
    p.write_text("# a comment\nu\tv\tts\tsign\n10\t20\t5\t1\n20\t30\t3\t-1\n10\t30\t4\t1\n")
    with pytest.warns(UserWarning, match="not sorted"):
        d = read(p, "edgelist")
    assert d.t.tolist() == [3, 4, 5]
    assert d.node_ids.tolist() == [10, 20, 30]
    assert d.src.tolist() == [1, 0, 0] and d.dst.tolist() == [2, 2, 1]
    assert d.sign.tolist() == [-1, 1, 1] and d.msg.shape == (3, 0)


def test_edgelist_columns_by_position_and_options(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("1 2 0.3\n2 3 0.9\n")
    assert read(p, "edgelist").t.tolist() == [0.3, 0.9]  # 3 columns: src dst time
    d = read(p, "edgelist", time=False, weight=2)
    assert d.edge_weight.tolist() == pytest.approx([0.3, 0.9]) and "t" not in d
    from graphcl.data.registry import resolve_dataset

    name, d2 = resolve_dataset(f"edgelist:{p}?time=false&weight=2")
    assert name == "w" and torch.equal(d2.edge_index, d.edge_index)


@pytest.mark.parametrize("text, message, row", [
    ("src,dst,t\n1,2,3\n1,,4\n", "missing field", 3),
    ("src,dst,t\n1,2,3\n1,2,x\n", "non-numeric", 3),
    ("src,dst,t\n1,2,3\n1,2,-4\n", "negative timestamp", 3),
    ("src,dst,sign\n1,2,1\n1,2,5\n", "sign must be -1 or", 3),
    ("1,2,3\n1,2,3,4,5\n", "different numbers of fields", None),
    ("# only comments\n", "empty", None),
    ("src,dst\n", "no edges", None),
    ("a\nb\n", "at least two columns", 1),
])
def test_edgelist_malformed(tmp_path, text, message, row):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=message) as e:
        read(p, "edgelist")
    assert str(p) in str(e.value)
    if row is not None:
        assert e.value.row == row


def test_edgelist_equals_the_snap_reader_on_collegemsg(data_root, tmp_path):
    src = data_root / "collegemsg" / "CollegeMsg.txt"
    if not src.is_file():
        pytest.skip("CollegeMsg not present")
    snap = read(src, "snap-temporal")
    ours = read(src, "edgelist")
    assert torch.equal(ours.src, snap.src) and torch.equal(ours.dst, snap.dst)
    assert torch.equal(ours.t, snap.t)
    gz = tmp_path / "uci.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write("sender,receiver,time\n" + src.read_text().replace(" ", ","))
    assert torch.equal(read(gz, "edgelist").t, snap.t)


def test_a_users_csv_runs_through_methods(tmp_path, capsys):
    from graphcl.cli import main
    from graphcl.data.synthetic import temporal_sbm_stream

    ev = temporal_sbm_stream(num_nodes=40, num_events=1500, seed=0)
    names = [f"user{i}" for i in range(40)]
    p = tmp_path / "mine.csv"
    p.write_text("from,to,when\n" + "".join(
        f"{names[s]},{names[d]},{t}\n" for s, d, t in zip(ev.src.tolist(), ev.dst.tolist(),
                                                         ev.t.tolist(), strict=True)))
    out = tmp_path / "tgn.json"
    assert main(["run", "tgn", "--dataset", f"edgelist:{p}", "--no-progress", "--out", str(out),
                 "--set", "epochs=1", "memory_dim=8", "time_dim=4", "embedding_dim=8"]) == 0
    assert json.loads(out.read_text())["metrics"]["test_ap"]["mean"] > 0.5
    # NAT with its defaults, on the CSV and on the same events as a SNAP temporal file
    snap = tmp_path / "mine.txt"
    snap.write_text("".join(f"{s} {d} {int(t)}\n" for s, d, t in zip(
        ev.src.tolist(), ev.dst.tolist(), ev.t.tolist(), strict=True)))
    for spec in (f"edgelist:{p}", f"snap-temporal:{snap}"):
        out = tmp_path / "nat.json"
        assert main(["run", "nat", "--dataset", spec, "--no-progress", "--out", str(out),
                     "--set", "epochs=3", "lr=0.001", "mrr_num_neg=5"]) == 0
        assert json.loads(out.read_text())["metrics"]["test_ap"]["mean"] > 0.5
    assert main(["run", "gae", "--dataset", f"edgelist:{p}?time=false", "--no-progress",
                 "--set", "epochs=2"]) == 0
