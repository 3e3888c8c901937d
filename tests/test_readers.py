"""Readers: tiny hand-written files per format (exact values), every bad-input case, and the
real files compared against PyG / ogb."""

import gzip
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data, TemporalData

from graphcl.data.errors import DataFormatError
from graphcl.data.readers import (
    LinkPropDataset,
    infer_format,
    read,
    read_idx,
    read_jodie,
    read_ml,
    read_ogb_linkprop,
    read_planetoid,
    read_snap_signed,
    read_snap_temporal,
    read_tu,
)


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def long(*v):
    return torch.tensor(v, dtype=torch.long)


# ------------------------------------------------------------------------------------------------
# SNAP signed
# ------------------------------------------------------------------------------------------------


def test_snap_signed_timed_remaps_and_sorts(tmp_path):
    p = write(tmp_path / "otc.csv", "6,2,4,100.5\n6,5,-2,50.25\n1,15,1,100.5\n")
    with pytest.warns(UserWarning, match="not sorted"):
        d = read_snap_signed(p)
    assert isinstance(d, TemporalData)
    assert d.num_nodes == 5
    assert torch.equal(d.node_ids, long(1, 2, 5, 6, 15))
    assert torch.equal(d.src, long(3, 3, 0))  # stable: the two t=100.5 rows keep file order
    assert torch.equal(d.dst, long(2, 1, 4))
    assert d.t.dtype == torch.float64 and d.t.tolist() == [50.25, 100.5, 100.5]
    assert torch.equal(d.sign, long(-1, 1, 1))
    assert d.weight.tolist() == [-2.0, 4.0, 1.0]
    assert d.msg.shape == (3, 0) and d.msg.dtype == torch.float


def test_snap_signed_integral_time_is_int64_and_warning_can_be_silenced(tmp_path):
    p = write(tmp_path / "a.csv", "1,2,10,5\n2,1,-1,3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = read_snap_signed(p, warn_unsorted=False)
    assert d.t.dtype == torch.int64 and d.t.tolist() == [3, 5]


def test_snap_signed_untimed_gz_with_header(tmp_path):
    text = "# Directed graph\n# FromNodeId\tToNodeId\tSign\n0\t1\t-1\n1\t3\t1\n3\t0\t1\n"
    p = write(tmp_path / "soc-sign-x.txt.gz", text, gz=True)
    d = read_snap_signed(p)
    assert isinstance(d, Data) and not isinstance(d, TemporalData)
    assert d.num_nodes == 3
    assert d.edge_index.tolist() == [[0, 1, 2], [1, 2, 0]]
    assert d.sign.tolist() == [-1, 1, 1] and d.weight.tolist() == [-1.0, 1.0, 1.0]
    assert d.node_ids.tolist() == [0, 1, 3]
    assert infer_format(p) == "snap-signed"


# ------------------------------------------------------------------------------------------------
# SNAP temporal
# ------------------------------------------------------------------------------------------------


def test_snap_temporal(tmp_path):
    p = write(tmp_path / "msg.txt", "1 2 10\n3 1 5\n2 3 5\n")
    with pytest.warns(UserWarning, match="sorting"):
        d = read_snap_temporal(p)
    assert d.num_nodes == 3
    assert torch.equal(d.src, long(2, 1, 0))
    assert torch.equal(d.dst, long(0, 2, 1))
    assert d.t.dtype == torch.int64 and d.t.tolist() == [5, 5, 10]
    assert d.node_ids.tolist() == [1, 2, 3]
    assert infer_format(p) == "snap-temporal"


def test_snap_temporal_sorted_input_no_warning(tmp_path):
    p = write(tmp_path / "msg.txt", "5 7 1\n7 9 2\n\n")  # trailing blank line is fine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = read_snap_temporal(p)
    assert d.src.tolist() == [0, 1] and d.dst.tolist() == [1, 2] and d.t.tolist() == [1, 2]


# ------------------------------------------------------------------------------------------------
# JODIE and ml_*
# ------------------------------------------------------------------------------------------------

JODIE = (
    "user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n"
    "0,0,0.0,0,0.1,0.2\n1,0,1.0,1,0.3,0.4\n0,1,2.0,0,0.5,0.6\n"
)


def test_jodie_canonical(tmp_path):
    d = read_jodie(write(tmp_path / "wikipedia.csv", JODIE))
    assert torch.equal(d.src, long(0, 1, 0))
    assert torch.equal(d.dst, long(2, 2, 3))  # items offset by max(user) + 1 = 2
    assert d.t.dtype == torch.int64 and d.t.tolist() == [0, 1, 2]
    assert d.y.tolist() == [0, 1, 0]
    assert torch.allclose(d.msg, torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
    assert d.num_nodes == 4
    assert infer_format(tmp_path / "wikipedia.csv") == "jodie"


def test_jodie_equals_pyg_jodiedataset(tmp_path):
    from torch_geometric.datasets import JODIEDataset

    write(tmp_path / "wikipedia" / "raw" / "wikipedia.csv", JODIE)
    ref = JODIEDataset(str(tmp_path), "wikipedia")[0]
    ours = read_jodie(tmp_path / "wikipedia" / "raw" / "wikipedia.csv")
    for key in ("src", "dst", "t", "msg", "y"):
        assert torch.equal(ours[key], ref[key]), key


def test_jodie_featureless_already_offset(tmp_path):
    d = read_jodie(write(tmp_path / "w.csv", "u,i,ts,label\n0,3,0,0\n1,3,5,1\n2,4,7,0\n"))
    assert d.dst.tolist() == [3, 3, 4]  # min(item)=3 > max(user)=2: no second offset
    assert d.msg.shape == (3, 0) and d.num_nodes == 5 and d.y.tolist() == [0, 1, 0]


def _ml_files(tmp_path: Path) -> Path:
    p = write(
        tmp_path / "ml_toy.csv",
        ",u,i,ts,label,idx\n0,1,3,0.0,0,1\n1,2,3,1.0,0,2\n2,1,4,3.0,1,3\n",
    )
    np.save(tmp_path / "ml_toy.npy", np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float32))
    node = np.zeros((5, 2), np.float32)
    node[:, 0] = np.arange(5) - 1  # row v + 1 describes node v
    np.save(tmp_path / "ml_toy_node.npy", node)
    return p


def test_ml(tmp_path):
    p = _ml_files(tmp_path)
    d = read_ml(p)
    assert d.src.tolist() == [0, 1, 0] and d.dst.tolist() == [2, 2, 3]
    assert d.t.tolist() == [0, 1, 3] and d.y.tolist() == [0, 0, 1]
    assert d.msg.tolist() == [[1, 1], [2, 2], [3, 3]]
    assert d.x[:, 0].tolist() == [0, 1, 2, 3]
    assert d.num_nodes == 4
    assert read_ml(tmp_path).src.tolist() == [0, 1, 0]  # a folder with one ml_*.csv
    assert infer_format(p) == "ml"


def test_ml_sorts_by_time_with_features(tmp_path):
    p = write(tmp_path / "ml_s.csv", ",u,i,ts,label,idx\n0,1,2,5,0,1\n1,2,1,4,0,2\n")
    np.save(tmp_path / "ml_s.npy", np.array([[0.0], [10.0], [20.0]], np.float32))
    with pytest.warns(UserWarning):
        d = read_ml(p)
    assert d.t.tolist() == [4, 5] and d.msg.view(-1).tolist() == [20.0, 10.0]
    assert d.src.tolist() == [1, 0]


# ------------------------------------------------------------------------------------------------
# TU
# ------------------------------------------------------------------------------------------------


def _tu_files(folder: Path) -> Path:
    # graph 1: nodes 1-3, edges 1-2, 2-3 (both ways), a self loop on 3 and a duplicate 2->1
    write(folder / "TOY_A.txt", "1, 2\n2, 1\n2, 3\n3, 2\n3, 3\n2, 1\n4, 5\n5, 4\n")
    write(folder / "TOY_graph_indicator.txt", "1\n1\n1\n2\n2\n")
    write(folder / "TOY_graph_labels.txt", "-1\n1\n")
    write(folder / "TOY_node_labels.txt", "1\n2\n1\n3\n3\n")
    write(folder / "TOY_node_attributes.txt", "0.5\n1.5\n2.5\n3.5\n4.5\n")
    return folder


def test_tu_exact(tmp_path):
    graphs = read_tu(_tu_files(tmp_path / "TOY" / "raw"))
    assert len(graphs) == 2
    g0, g1 = graphs
    assert g0.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert g0.x.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert g0.y.tolist() == [0] and g1.y.tolist() == [1]
    assert g1.edge_index.tolist() == [[0, 1], [1, 0]] and g1.x.tolist() == [[0, 0, 1]] * 2
    attr = read_tu(tmp_path / "TOY", use_node_attr=True)  # parent of raw/ also works
    assert attr[1].x.tolist() == [[3.5, 0, 0, 1], [4.5, 0, 0, 1]]


def test_tu_equals_pyg_on_toy_and_mutag(tmp_path, data_root):
    from torch_geometric.datasets import TUDataset

    _tu_files(tmp_path / "TOY" / "raw")
    shutil.copytree(data_root / "tu" / "MUTAG" / "raw", tmp_path / "MUTAG" / "raw")
    for name in ("TOY", "MUTAG"):
        for attrs in (False, True):
            ref = TUDataset(str(tmp_path), name, use_node_attr=attrs, use_edge_attr=attrs)
            ours = read_tu(tmp_path / name / "raw", use_node_attr=attrs, use_edge_attr=attrs)
            assert len(ours) == len(ref)
            for i in range(len(ref)):
                r, o = ref[i], ours[i]
                assert set(r.keys()) == set(o.keys())
                for k in r.keys():
                    assert torch.equal(r[k], o[k]) if torch.is_tensor(r[k]) else r[k] == o[k]


def test_tu_without_node_labels_sets_num_nodes(tmp_path):
    write(tmp_path / "G_A.txt", "1,2\n2,1\n")
    write(tmp_path / "G_graph_indicator.txt", "1\n1\n2\n")
    write(tmp_path / "G_graph_labels.txt", "0\n1\n")
    g = read_tu(tmp_path)
    assert g[0].x is None and g[0].num_nodes == 2 and g[1].num_nodes == 1
    assert g[1].edge_index.shape == (2, 0)


# ------------------------------------------------------------------------------------------------
# Planetoid
# ------------------------------------------------------------------------------------------------


def _planetoid_files(folder: Path, name: str = "citeseer", seed: int = 0) -> dict:
    """A CiteSeer-like data set: 620 nodes, test ids 600..619 minus two isolated ones."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    f, c, n_all = 5, 3, 600
    test = np.array([i for i in range(600, 620) if i not in (605, 612)])
    rng.shuffle(test)

    def onehot(n):
        y = np.zeros((n, c), np.int32)
        y[np.arange(n), rng.integers(0, c, n)] = 1
        return y

    allx = sp.csr_matrix(rng.random((n_all, f)).astype(np.float32))
    parts = {
        "x": allx[:10], "allx": allx, "tx": sp.csr_matrix(rng.random((len(test), f))),
        "y": None, "ty": onehot(len(test)), "ally": onehot(n_all),
    }
    parts["y"] = parts["ally"][:10]
    graph = {i: [] for i in range(620)}
    src = rng.integers(0, 620, 900)
    dst = rng.integers(0, 620, 900)
    for u, v in zip(src.tolist(), dst.tolist(), strict=True):  # test-fixture construction
        graph[u].append(v)
        graph[v].append(u)
    graph[3].append(3)  # a self loop, removed
    graph[4].append(graph[4][0] if graph[4] else 5)  # a duplicate, coalesced
    parts["graph"] = graph
    for key, value in parts.items():
        with open(folder / f"ind.{name}.{key}", "wb") as fh:
            pickle.dump(value, fh, protocol=2)
    (folder / f"ind.{name}.test.index").write_text("\n".join(map(str, test)) + "\n")
    return {"test": test, "allx": allx, "tx": parts["tx"]}


def test_planetoid_citeseer_gap_equals_pyg(tmp_path):
    from torch_geometric.io import read_planetoid_data

    info = _planetoid_files(tmp_path)
    ours = read_planetoid(tmp_path)  # name inferred
    ref = read_planetoid_data(str(tmp_path), "citeseer")
    assert set(ours.keys()) == set(ref.keys())
    for k in ref.keys():
        assert torch.equal(ours[k], ref[k]), k
    assert ours.num_nodes == 620
    assert torch.all(ours.x[[605, 612]] == 0)  # isolated test nodes get zero features
    assert int(ours.test_mask.sum()) == 18 and int(ours.train_mask.sum()) == 10
    assert int(ours.val_mask.sum()) == 500
    assert ours.is_undirected() and not bool((ours.edge_index[0] == ours.edge_index[1]).any())
    # test rows are placed at their (shuffled) test index
    first = int(info["test"][0])
    assert torch.allclose(ours.x[first], torch.from_numpy(info["tx"][0].toarray()[0]).float())


def test_planetoid_cora_equals_pyg(data_root):
    from torch_geometric.io import read_planetoid_data

    folder = data_root / "planetoid" / "Cora" / "raw"
    ours, ref = read_planetoid(folder), read_planetoid_data(str(folder), "cora")
    for k in ref.keys():
        assert torch.equal(ours[k], ref[k]), k
    assert (ours.num_nodes, ours.num_edges, ours.num_features) == (2708, 10556, 1433)


# ------------------------------------------------------------------------------------------------
# OGB link property prediction
# ------------------------------------------------------------------------------------------------


def _ogb_files(folder: Path, *, valid=None, test=None) -> Path:
    write(folder / "raw" / "edge.csv.gz", "0,1\n1,2\n3,0\n", gz=True)
    write(folder / "raw" / "num-node-list.csv.gz", "4\n", gz=True)
    write(folder / "raw" / "num-edge-list.csv.gz", "3\n", gz=True)
    split = folder / "split" / "target"
    split.mkdir(parents=True, exist_ok=True)
    valid = valid if valid is not None else {
        "edge": np.array([[0, 2]]), "edge_neg": np.array([[1, 3], [2, 3]])}
    test = test if test is not None else {"edge": np.array([[1, 3]]), "edge_neg": np.array([[0, 3]])}
    # legacy (non-zip) torch.save pickles of dicts of numpy arrays, as OGB ships them
    torch.save(valid, split / "valid.pt", _use_new_zipfile_serialization=False)
    torch.save(test, split / "test.pt", _use_new_zipfile_serialization=False)
    return folder


def test_ogb_linkprop_tiny(tmp_path):
    ds = read_ogb_linkprop(_ogb_files(tmp_path / "ogbl_toy"))
    assert isinstance(ds, LinkPropDataset)
    data, split = ds
    assert data.num_nodes == 4 and data.x is None
    assert data.edge_index.tolist() == [[0, 1, 1, 2, 3, 0], [1, 0, 2, 1, 0, 3]]
    assert split["train"]["edge"].tolist() == [[0, 1], [1, 2], [3, 0]]
    assert split["valid"]["edge"].tolist() == [[0, 2]]
    assert split["valid"]["edge_neg"].tolist() == [[1, 3], [2, 3]]
    assert split["test"]["edge"].dtype == torch.long and split["test"]["edge"].shape == (1, 2)
    assert list(split) == ["train", "valid", "test"]
    assert infer_format(tmp_path / "ogbl_toy") == "ogb-linkprop"
    no_inv = read_ogb_linkprop(tmp_path / "ogbl_toy", add_inverse_edge=False).data
    assert no_inv.edge_index.tolist() == [[0, 1, 3], [1, 2, 0]]


def test_ogb_linkprop_ddi_matches_ogb(data_root):
    from ogb.io.read_graph_pyg import read_graph_pyg
    from ogb.utils.torch_util import replace_numpy_with_torchtensor

    folder = data_root / "ogbl-ddi"
    data, split = read_ogb_linkprop(folder)
    ref = read_graph_pyg(str(folder / "raw"), add_inverse_edge=True)[0]
    assert data.num_nodes == ref.num_nodes == 4267
    assert torch.equal(data.edge_index, ref.edge_index)
    for kind in ("valid", "test"):  # what get_edge_split() does with the same files
        expected = replace_numpy_with_torchtensor(
            torch.load(folder / "split" / "target" / f"{kind}.pt", weights_only=False))
        assert set(split[kind]) == set(expected)
        for k, v in expected.items():
            assert torch.equal(split[kind][k], v)
    assert split["train"]["edge"].shape == (1_067_911, 2)
    assert torch.equal(split["train"]["edge"], ref.edge_index[:, 0::2].t())
    sizes = {k: {kk: vv.shape[0] for kk, vv in v.items()} for k, v in split.items()}
    assert sizes["valid"] == {"edge": 133_489, "edge_neg": 101_882}
    assert sizes["test"] == {"edge": 133_489, "edge_neg": 95_599}


# ------------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------------


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_idx_file_and_folder(tmp_path):
    imgs = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    labels = np.array([7, 0, 3], np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(imgs))
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(labels))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1], np.uint8)))
    (tmp_path / "other-idx1-ubyte").write_bytes(_idx_bytes(np.array([-5, 70000], np.int32)))
    t = read_idx(tmp_path / "train-images-idx3-ubyte")
    assert t.dtype == torch.uint8 and t.shape == (3, 2, 2) and t.view(-1).tolist() == list(range(12))
    d = read_idx(tmp_path)
    assert sorted(d) == ["other", "test_labels", "train_images", "train_labels"]
    assert d["train_labels"].tolist() == [7, 0, 3]
    assert d["other"].dtype == torch.int32 and d["other"].tolist() == [-5, 70000]
    assert infer_format(tmp_path / "train-labels-idx1-ubyte.gz") == "idx"


def test_idx_mnist(data_root):
    d = read_idx(data_root / "mnist" / "raw")
    assert d["train_images"].shape == (60000, 28, 28) and d["test_images"].shape == (10000, 28, 28)
    assert d["train_images"].dtype == torch.uint8
    assert torch.bincount(d["test_labels"].long()).tolist()[:3] == [980, 1135, 1032]


# ------------------------------------------------------------------------------------------------
# read() dispatch
# ------------------------------------------------------------------------------------------------


def test_read_dispatch_and_inference(tmp_path):
    p = write(tmp_path / "e.txt", "1 2 3\n2 3 4\n")
    assert read(p).num_events == 2
    with pytest.raises(DataFormatError, match="sign 3 is not a sign"):  # explicit format wins
        read(p, format="snap_signed")  # ... and a timestamp column is no sign
    with pytest.raises(ValueError, match="unknown format"):
        read(p, format="graphml")
    _tu_files(tmp_path / "both")
    np.save(tmp_path / "both" / "x.npy", np.zeros(1))
    write(tmp_path / "both" / "ml_a.csv", ",u,i,ts,label,idx\n0,1,2,0,0,1\n")
    with pytest.raises(ValueError, match="cannot infer"):
        read(tmp_path / "both")
    assert len(read(tmp_path / "both", "tu")) == 2


# ------------------------------------------------------------------------------------------------
# Bad input: every case names the file and the row
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "row", "match"),
    [
        ("1 2 3\n4 x 6\n", 2, "column 'dst': non-numeric value 'x'"),
        ("1 2 3\n4 5 6\n7 8 9 10\n", 3, "wrong number of columns: expected 3, found 4"),
        ("1 2 3\n4 5\n", 2, "missing or NaN value"),
        ("1 2 3\n4 5 nan\n", 2, "column 'time': missing or NaN"),
        ("1 2 3\n4 5 inf\n", 2, "non-finite value inf"),
        ("1 2 3\n4 5 -6\n", 2, "negative timestamp -6"),
        ("1 2 3\n4.5 5 6\n", 2, "expected an integer node id, found 4.5"),
        ("1 2 3\n-4 5 6\n", 2, "node id -4 out of range"),
        ("1 2\n3 4\n", 1, r"expected 3 \(src,dst,time\), found 2"),
    ],
)
def test_bad_rows_name_file_row_and_problem(tmp_path, text, row, match):
    p = write(tmp_path / "bad.txt", text)
    with pytest.raises(DataFormatError, match=match) as info:
        read_snap_temporal(p)
    err = info.value
    assert err.row == row and err.path == str(p)
    assert str(err).startswith(f"{p}:{row}: ")


def test_bad_row_line_numbers_count_headers_and_blank_lines(tmp_path):
    p = write(tmp_path / "s.txt", "# header\n# FromNodeId ToNodeId Sign\n0 1 1\n\n1 2 oops\n")
    with pytest.raises(DataFormatError) as info:
        read_snap_signed(p)
    assert info.value.row == 5 and "oops" in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_files(tmp_path, text):
    with pytest.raises(DataFormatError, match="empty"):
        read_snap_signed(write(tmp_path / "e.csv", text))


def test_jodie_header_only_is_empty(tmp_path):
    with pytest.raises(DataFormatError, match="empty"):
        read_jodie(write(tmp_path / "j.csv", "u,i,ts,label\n"))


def test_missing_files(tmp_path):
    for reader in (read_snap_signed, read_snap_temporal, read_jodie, read_idx):
        with pytest.raises(FileNotFoundError, match="nope"):
            reader(tmp_path / "nope.csv")
    _planetoid_files(tmp_path / "p", name="toy")
    (tmp_path / "p" / "ind.toy.ty").unlink()
    with pytest.raises(FileNotFoundError, match="ind.toy.ty"):
        read_planetoid(tmp_path / "p")
    _ogb_files(tmp_path / "o")
    (tmp_path / "o" / "split" / "target" / "test.pt").unlink()
    with pytest.raises(FileNotFoundError, match="test.pt"):
        read_ogb_linkprop(tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="_A.txt"):
        read_tu(tmp_path)


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "x.txt.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    with pytest.raises(DataFormatError, match=r"x\.txt\.gz"):
        read_snap_signed(p)


def test_jodie_and_ml_bad_input(tmp_path):
    with pytest.raises(DataFormatError, match="negative timestamp") as info:
        read_jodie(write(tmp_path / "j.csv", "u,i,ts,label\n0,1,5,0\n1,1,-2,0\n"))
    assert info.value.row == 3
    with pytest.raises(DataFormatError, match="at least 4"):
        read_jodie(write(tmp_path / "j3.csv", "u,i,ts\n0,1,5\n"))
    p = _ml_files(tmp_path / "ml")
    write(p, ",u,i,ts,label,idx\n0,1,3,0.0,0,1\n1,0,3,1.0,0,2\n")
    with pytest.raises(DataFormatError, match=r"node id 0 out of range \(expected \[1, 4\]\)"):
        read_ml(p)
    write(p, ",u,i,ts,label,idx\n0,1,9,0.0,0,1\n")
    with pytest.raises(DataFormatError, match="node id 9 out of range") as info:
        read_ml(p)
    assert info.value.row == 2 and info.value.column == "i"
    write(p, ",u,i,ts,label,idx\n0,1,2,0.0,0,7\n")
    with pytest.raises(DataFormatError, match="edge index 7 out of range"):
        read_ml(p)
    write(p, "a,b,c\n1,2,3\n")
    with pytest.raises(DataFormatError, match="lacks column"):
        read_ml(p)


def test_tu_bad_input(tmp_path):
    folder = _tu_files(tmp_path)
    write(folder / "TOY_A.txt", "1, 2\n2, 9\n")
    with pytest.raises(DataFormatError, match=r"node id 9 out of range \(expected \[1, 5\]\)") as i:
        read_tu(folder)
    assert i.value.row == 2 and i.value.path.endswith("TOY_A.txt")
    write(folder / "TOY_A.txt", "1, 4\n")
    with pytest.raises(DataFormatError, match="joins graphs 1 and 2"):
        read_tu(folder)
    write(folder / "TOY_A.txt", "1, 2\n")
    write(folder / "TOY_graph_labels.txt", "1\n")
    with pytest.raises(DataFormatError, match="has 1 rows, expected 2"):
        read_tu(folder)
    write(folder / "TOY_graph_labels.txt", "1\n0\n")
    write(folder / "TOY_graph_indicator.txt", "1\n2\n1\n2\n2\n")
    with pytest.raises(DataFormatError, match="non-decreasing") as i:
        read_tu(folder)
    assert i.value.row == 3


def test_planetoid_bad_input(tmp_path):
    _planetoid_files(tmp_path, name="toy")
    (tmp_path / "ind.toy.x").write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match=r"ind\.toy\.x: not a valid Planetoid pickle"):
        read_planetoid(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "ind.toy.x").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataFormatError, match="refusing to unpickle builtins.print"):
        read_planetoid(tmp_path)
    _planetoid_files(tmp_path, name="toy")
    with open(tmp_path / "ind.toy.graph", "wb") as fh:
        pickle.dump({0: [700]}, fh)
    with pytest.raises(DataFormatError, match=r"edge \(0, 700\) has a node id outside \[0, 620\)"):
        read_planetoid(tmp_path)
    _planetoid_files(tmp_path / "two", name="a")
    _planetoid_files(tmp_path / "two", name="b")
    with pytest.raises(DataFormatError, match="several data sets"):
        read_planetoid(tmp_path / "two")
    assert read_planetoid(tmp_path / "two", name="b").num_nodes == 620


def test_ogb_bad_input(tmp_path):
    _ogb_files(tmp_path / "a", valid={"edge": np.array([[0, 9]]), "edge_neg": np.array([[0, 1]])})
    with pytest.raises(DataFormatError, match=r"valid\.pt: 'edge': row 0 \[0, 9\] has a node id"):
        read_ogb_linkprop(tmp_path / "a")
    _ogb_files(tmp_path / "b", test={"edge": np.array([0, 1, 2])})
    with pytest.raises(DataFormatError, match=r"test\.pt.*shape \[E, 2\]"):
        read_ogb_linkprop(tmp_path / "b")
    _ogb_files(tmp_path / "c")
    write(tmp_path / "c" / "raw" / "edge.csv.gz", "0,1\n1,7\n3,0\n", gz=True)
    with pytest.raises(DataFormatError, match="node id 7 out of range") as info:
        read_ogb_linkprop(tmp_path / "c")
    assert info.value.row == 2
    _ogb_files(tmp_path / "d")
    write(tmp_path / "d" / "raw" / "num-edge-list.csv.gz", "5\n", gz=True)
    with pytest.raises(DataFormatError, match="declares 5 edges"):
        read_ogb_linkprop(tmp_path / "d")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    _ogb_files(tmp_path / "e")
    torch.save({"edge": Evil()}, tmp_path / "e" / "split" / "target" / "valid.pt",
               _use_new_zipfile_serialization=False)
    with pytest.raises(DataFormatError, match="cannot load the split file"):
        read_ogb_linkprop(tmp_path / "e")


def test_idx_bad_input(tmp_path):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataFormatError, match="body has 3 bytes, expected 5"):
        read_idx(p)
    p.write_bytes(b"\x12\x34\x08\x01")
    with pytest.raises(DataFormatError, match="bad IDX magic number 0x12340801"):
        read_idx(p)
    p.write_bytes(b"\x00")
    with pytest.raises(DataFormatError, match="too short"):
        read_idx(p)


def test_data_format_error_fields_and_pickling():
    err = DataFormatError("a/b.csv", "bad value", row=3, column="dst", line="1,x")
    assert isinstance(err, ValueError)
    assert str(err).startswith("a/b.csv:3: column 'dst': bad value")
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.row, again.column, str(again)) == ("a/b.csv", 3, "dst", str(err))


def test_snap_textual_header_line_is_skipped(tmp_path):
    d = read_snap_signed(write(tmp_path / "h.csv", "src,dst,rating,time\n1,2,3,4\n"))
    assert d.t.tolist() == [4] and d.weight.tolist() == [3.0]
    d = read_snap_temporal(write(tmp_path / "h.txt", "# c\nsrc dst t\n1 2 3\n"))
    assert d.t.tolist() == [3]


def test_infer_format_on_real_files(data_root):
    expected = {
        "planetoid/Cora/raw": "planetoid", "ogbl-ddi": "ogb-linkprop", "tu/MUTAG": "tu",
        "mnist/raw": "idx", "bitcoin-otc/soc-sign-bitcoinotc.csv": "snap-signed",
        "epinions/soc-sign-epinions.txt.gz": "snap-signed",
        "collegemsg/CollegeMsg.txt": "snap-temporal",
        "jodie-wikipedia-nofeat/wikipedia_uitl.csv": "jodie",
    }
    for rel, fmt in expected.items():
        assert infer_format(data_root / rel) == fmt, rel


def test_temporal_output_stays_indexable(tmp_path):
    # num_nodes is PyG's max-id property, not a stored int, so index_select keeps working
    d = read_snap_temporal(write(tmp_path / "m.txt", "10 20 1\n20 30 2\n30 10 3\n40 10 4\n"))
    sub = d[torch.tensor([True, False, True, False])]
    assert sub.src.tolist() == [0, 2] and d.num_nodes == 4 and d[1:3].t.tolist() == [2, 3]


def test_planetoid_one_way_adjacency_is_symmetrised(tmp_path):
    _planetoid_files(tmp_path, name="toy")
    with open(tmp_path / "ind.toy.graph", "wb") as fh:
        pickle.dump({0: [1, 2], 1: [2]}, fh)  # each edge listed once
    d = read_planetoid(tmp_path)
    assert d.is_undirected() and d.num_edges == 6
    assert sorted(map(tuple, d.edge_index.t().tolist())) == [
        (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]


def test_sparse_huge_ids_are_remapped(tmp_path):
    d = read_snap_temporal(write(tmp_path / "big.txt", "900000000000 5 1\n5 123456789012 2\n"))
    assert d.node_ids.tolist() == [5, 123456789012, 900000000000]
    assert d.src.tolist() == [2, 0] and d.dst.tolist() == [0, 1] and d.num_nodes == 3
