r"""W2PGNN: graphon estimation, topology statistics, ego-networks, GW distances, the mixture fit
through the Engine, the method on synthetic and real collections, and the pre-training arm
(GraphCL pre-training, fine-tuning from the saved encoder)."""

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph, to_networkx

from graphcl.data.collection import (
    as_collection,
    ego_networks,
    graph_batch,
    to_graph_list,
    with_degree_features,
)
from graphcl.data.synthetic import GRAPHONS, graphon_graphs
from graphcl.methods import ConfigError, get_method
from graphcl.models.w2pgnn import GraphonMixtures
from graphcl.nn.graphon import (
    aligned_mean,
    estimate_graphon,
    gw_distance,
    gw_plan,
    gw_plan_loss,
    resize,
    topology_statistics,
)
from graphcl.runner import run_experiment
from graphcl.train.engine import Engine
from graphcl.train.graphon import MixtureFitTask
from graphcl.train.tasks import drop_view, nt_xent

pytest.importorskip("ot")
pytestmark = pytest.mark.usefixtures("one_thread")


def _path(n):
    src = torch.arange(n - 1)
    return torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])


def _grid(r):
    x = (torch.arange(r, dtype=torch.float64) + 0.5) / r
    return x[:, None], x[None, :]


# --- collections and ego-networks ---------------------------------------------------------------
def test_aligned_mean_by_hand():
    # a 3-node path (degrees 1, 2, 1: the middle node first) and one edge, padded to 3
    gb = graph_batch([Data(edge_index=_path(3), num_nodes=3),
                      Data(edge_index=_path(2), num_nodes=2)])
    got = aligned_mean(gb)
    path = torch.tensor([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=torch.float64)
    edge = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float64)
    assert torch.equal(got, (path + edge) / 2)


def test_graph_batch_refuses_bad_collections():
    with pytest.raises(ValueError, match="at least 2 graphs"):
        graph_batch([Data(edge_index=_path(3), num_nodes=3)], "one")
    empty = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=4)
    with pytest.raises(ValueError, match="none of its 2 graphs has an edge"):
        graph_batch([empty, empty], "bare")


def test_topology_statistics_equal_networkx():
    graphs = graphon_graphs("exp", 6, (4, 20), seed=3)
    graphs.append(Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=3))
    st = topology_statistics(graph_batch(graphs)).numpy()
    for i, g in enumerate(graphs[:-1]):
        G = to_networkx(g, to_undirected=True)
        deg = np.array([d for _, d in G.degree()])
        ref = [deg.mean(), deg.std(), nx.density(G),
               np.mean(list(nx.closeness_centrality(G).values())),
               nx.degree_pearson_correlation_coefficient(G),
               nx.degree_assortativity_coefficient(G), nx.transitivity(G),
               nx.average_clustering(G)]
        ref = np.nan_to_num(ref)
        np.testing.assert_allclose(st[i], ref, atol=1e-9)
    assert (st[-1] == 0).all()  # the edgeless graph: every statistic defined as 0
    # chunking the triangle count (one graph per chunk) changes nothing
    from graphcl.nn.graphon import _mean_closeness, _triangles

    gb = graph_batch(graphs)
    assert torch.equal(_triangles(gb, budget=1), _triangles(gb))
    # closeness from a subset of sources: each source's value is exact, their mean estimates
    big = graphon_graphs("smooth", 2, 300, seed=0)
    G = to_networkx(big[0], to_undirected=True)
    exact = np.mean(list(nx.closeness_centrality(G).values()))
    est = float(_mean_closeness(graph_batch(big))[0])
    assert est == pytest.approx(exact, rel=0.05)


def test_ego_networks_equal_k_hop_subgraph(data_root):
    from graphcl.data import load

    data = load("cora", data_root)
    centres = torch.tensor([0, 5, 633, 1701, 2707])
    gb, orig, kept = ego_networks(data, centres, max_nodes=None)
    assert torch.equal(kept, centres)
    for j, c in enumerate(centres.tolist()):
        subset, ei, _, _ = k_hop_subgraph(c, 2, data.edge_index, relabel_nodes=True,
                                          num_nodes=data.num_nodes)
        assert torch.equal(orig[gb.batch == j], subset)
        mine = to_graph_list(gb)[j].edge_index
        assert {tuple(e) for e in mine.T.tolist()} == {tuple(e) for e in ei.T.tolist()}
    small, _, kept = ego_networks(data, centres, max_nodes=30)
    sizes = torch.tensor([k_hop_subgraph(c, 2, data.edge_index)[0].numel()
                          for c in centres.tolist()])
    assert torch.equal(kept, centres[sizes <= 30]) and small.num_graphs == int((sizes <= 30).sum())
    with pytest.raises(ValueError, match="more than 1 nodes"):
        ego_networks(data, centres, max_nodes=1)


def test_degree_features():
    g = Data(edge_index=_path(4), num_nodes=4, y=torch.tensor([1]))
    (d,) = with_degree_features([g], cap=1)
    assert d.x.tolist() == [[0, 1], [0, 1], [0, 1], [0, 1]] and int(d.y) == 1
    (d,) = with_degree_features([g], cap=3)
    assert d.x.argmax(1).tolist() == [1, 2, 2, 1]


# --- graphons -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method,tol", [("sas", 0.05), ("usvt", 0.03)])
def test_graphon_recovered_from_its_samples(method, tol):
    # u*v has increasing degrees, which degree sorting needs (a two-block SBM with equal
    # degrees is not identifiable by sorting-and-smoothing)
    gb = graph_batch(graphon_graphs("smooth", 100, 80, seed=0))
    est = resize(estimate_graphon(gb, method), 50)
    true = GRAPHONS["smooth"](*_grid(50)).double()
    assert gw_distance(est, true, loss="square") < tol
    assert gw_distance(est, GRAPHONS["er"](*_grid(50)).double(), loss="square") > 3 * tol


def test_released_tv_weight_flattens_the_graphon():
    # the released code's denoising weight (the block size h) flattens structure away
    gb = graph_batch(graphon_graphs("smooth", 100, 80, seed=0))
    flat = estimate_graphon(gb, tv_weight=None)
    sharp = estimate_graphon(gb)
    assert flat.max() - flat.min() < 0.5 * (sharp.max() - sharp.min())


def test_unknown_estimator_is_an_error():
    gb = graph_batch(graphon_graphs("er", 3, 10))
    with pytest.raises(ValueError, match="unknown graphon estimator 'LP'"):
        estimate_graphon(gb, "LP")


def test_gw_of_identical_graphons_is_zero_and_plan_loss_matches_pot():
    import ot

    a = GRAPHONS["exp"](*_grid(40)).double()
    b = GRAPHONS["smooth"](*_grid(30)).double()
    assert gw_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert gw_distance(a, a, loss="square") == pytest.approx(0, abs=1e-6)
    assert gw_distance(a, b) > 0.1
    plan = gw_plan(a, b)
    p, q = np.full(40, 1 / 40), np.full(30, 1 / 30)
    ref = ot.gromov.gromov_wasserstein2(a.numpy(), b.numpy(), p, q, "square_loss")
    assert float(gw_plan_loss(a, b, plan)) == pytest.approx(ref, rel=1e-9)
    # the loss of a fixed plan is a quadratic in the first graphon: gradient by hand
    w = a.clone().requires_grad_(True)
    gw_plan_loss(w, b, plan).backward()
    pp = plan.sum(1)
    hand = 2 * w.detach() * torch.outer(pp, pp) - 2 * plan @ b @ plan.T
    assert torch.allclose(w.grad, hand, atol=1e-12)


def _fit(bases, target, epochs=60):
    model = GraphonMixtures([bases])
    task = MixtureFitTask(["c"], [list(bases)], target, target, eval_resolution=target.size(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.99))
    engine = Engine(model, opt, max_epochs=epochs, monitor="valid_gw", mode="min",
                    eval_splits=("valid",), final_splits=("test",), progress=False)
    return model, engine.fit(task)


def test_mixing_weights_recovered_on_a_synthetic_mixture():
    x, y = _grid(40)
    bases = torch.stack([GRAPHONS["smooth"](x, y).double(), GRAPHONS["exp"](x, y).double()])
    target = 0.3 * bases[0] + 0.7 * bases[1]
    model, res = _fit(bases, target, epochs=150)
    alpha = model.alpha(0, best=True)
    assert alpha[0] == pytest.approx(0.3, abs=0.05), alpha
    assert res["metrics"]["test_feasibility:c"] > -0.02
    # state round trip: the best weights are buffers
    fresh = GraphonMixtures([bases])
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.alpha(0, best=True), alpha)
    assert float(fresh.best_loss[0]) == float(model.best_loss[0])


# --- the method -------------------------------------------------------------------------------
SMALL = {"resolution": 20, "eval_resolution": 30, "epochs": 30, "variant": "domain"}


def test_method_ranks_the_generating_graphons_first():
    # the downstream collection mixes sbm2 and er graphs (synthetic:graphs)
    res = run_experiment("w2pgnn", "synthetic:graphs", progress=False, overrides={
        **SMALL, "pretrain": ["graphon:sbm2+graphon:er", "graphon:smooth", "graphon:exp"]})
    m = {k.split(":", 1)[1]: v["mean"] for k, v in res["metrics"].items()
         if k.startswith("test_feasibility:")}
    assert max(m, key=m.get) == "graphon:sbm2+graphon:er"
    # the fitted weights are at least as feasible as the uniform mixture
    name = "graphon:sbm2+graphon:er"
    assert m[name] >= res["metrics"][f"test_feasibility_uniform:{name}"]["mean"] - 1e-3
    assert res["stats"][f"bases:{name}"]["mean"] == 2


def test_method_bad_input():
    m = get_method("w2pgnn")
    with pytest.raises(ConfigError, match="unknown graphon estimator 'LP'"):
        m.configure({}, (), {"estimator": "LP"})
    with pytest.raises(ConfigError, match="variant must be one of"):
        m.configure({}, (), {"variant": "mixed"})
    with pytest.raises(ConfigError, match="candidate pre-training sets is empty"):
        run_experiment("w2pgnn", "synthetic:graphs", progress=False,
                       overrides={**SMALL, "pretrain": []})
    bare = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=3)
    with pytest.raises(ValueError, match="none of its 2 graphs has an edge"):
        run_experiment("w2pgnn", "synthetic:graphs", progress=False, overrides=SMALL,
                       data=("bare", [bare, bare], ("bare",)))


def test_method_on_real_collections_and_ego_networks(data_root, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    res = run_experiment("w2pgnn", "mutag", progress=False, overrides={
        "resolution": 30, "eval_resolution": 60, "epochs": 10, "ego_samples": 200,
        "pretrain": ["ptc_mr", "imdb-binary", "cora"]})
    m = {k.split(":", 1)[1]: v["mean"] for k, v in res["metrics"].items()
         if k.startswith("test_feasibility:")}
    assert set(m) == {"ptc_mr", "imdb-binary", "cora"}
    assert all(np.isfinite(v) and v <= 0 for v in m.values())
    # molecules are closer to molecules than to movie-collaboration ego-networks
    assert m["ptc_mr"] > m["imdb-binary"]
    assert res["stats"]["bases:ptc_mr"]["mean"] == 5  # topo variant: 5 clusters


def test_default_candidates_are_the_other_collections(data_root, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    m = get_method("w2pgnn")
    from graphcl.data import load

    cands = m._candidates({"pretrain": None}, load("mutag", data_root))
    assert "mutag" not in cands and {"ptc_mr", "nci1", "proteins"} <= set(cands)


# --- pre-training arm ---------------------------------------------------------------------------
def test_nt_xent_and_views_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # positives have cosine 1, negatives 0: loss = log(1 + e^{-1/T})
    assert float(nt_xent(z, z, 0.5)) == pytest.approx(float(np.log(1 + np.exp(-2.0))))
    from torch_geometric.data import Batch

    graphs = with_degree_features(graphon_graphs("er", 8, (3, 12), seed=1), 4)
    batch = Batch.from_data_list(graphs)
    v1 = drop_view(batch, 0.5, 0.5, torch.Generator().manual_seed(0))
    v2 = drop_view(batch, 0.5, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(v1.edge_index, v2.edge_index)
    assert torch.bincount(v1.batch, minlength=8).min() >= 1  # every graph keeps a node
    assert v1.num_nodes < batch.num_nodes and int(v1.edge_index.max()) < v1.num_nodes


def test_pretrain_then_finetune_loads_the_encoder(tmp_path):
    enc = tmp_path / "enc.pt"
    over = {"epochs": 2, "hidden": 16, "num_layers": 2, "batch_size": 64, "save": str(enc)}
    run_experiment("pretrain", "synthetic:graphs", progress=False, overrides=over)
    assert enc.is_file()
    from graphcl.data.synthetic import graph_collection
    from graphcl.train.checkpoint import load_checkpoint

    m = get_method("gnn")
    cfg = m.configure({}, (), {"conv": "gin", "hidden": 16, "num_layers": 2,
                               "features": "degree", "init": str(enc)})
    setup = m.build(graph_collection(seed=0), cfg, 0)
    saved = load_checkpoint(enc)["state_dict"]
    for k, v in setup.model.gnn.state_dict().items():
        assert torch.equal(v, saved[k])
    cfg["hidden"] = 32
    with pytest.raises(ValueError, match=r"other hidden \(16 vs 32\)"):
        m.build(graph_collection(seed=0), cfg, 0)


def test_pretrain_on_a_single_graph_uses_ego_networks():
    from graphcl.data.synthetic import attributed_sbm

    data = attributed_sbm(seed=0)
    gb = as_collection(data, "sbm", sample=50, seed=0)
    assert gb.num_graphs == 50
    res = run_experiment("pretrain", "synthetic:sbm", progress=False,
                         overrides={"epochs": 1, "hidden": 8, "ego_samples": 60})
    assert np.isfinite(res["metrics"]["valid_loss"]["mean"])


def test_gnn_tests_once_on_the_best_epoch_as_it_would_every_epoch():
    over = {"epochs": 6, "conv": "gin", "batch_size": 32, "hidden": 16}
    every = run_experiment("gnn", "synthetic:graphs", progress=False, overrides=over)
    once = run_experiment("gnn", "synthetic:graphs", progress=False,
                          overrides={**over, "test_every_epoch": False})
    assert once["metrics"]["test_acc"] == every["metrics"]["test_acc"]
    assert once["curves"] == every["curves"]


def _write_tu(folder, name, graphs):
    folder.mkdir(parents=True)
    rows, ind, off = [], [], 0
    for g, d in enumerate(graphs):
        rows += [f"{int(a) + off + 1}, {int(b) + off + 1}" for a, b in d.edge_index.T.tolist()]
        ind += [str(g + 1)] * int(d.num_nodes)
        off += int(d.num_nodes)
    (folder / f"{name}_A.txt").write_text("\n".join(rows) + "\n")
    (folder / f"{name}_graph_indicator.txt").write_text("\n".join(ind) + "\n")
    labels = [str(i % 2) for i in range(len(graphs))]
    (folder / f"{name}_graph_labels.txt").write_text("\n".join(labels) + "\n")


def test_defaults_on_a_user_tu_folder(data_root, monkeypatch, tmp_path):
    # a TU-format collection that is not under the data root: default candidates are every
    # collection there (only the resolutions are lowered, for time)
    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    _write_tu(tmp_path / "MINE", "MINE", graphon_graphs("exp", 40, (10, 40), seed=5))
    res = run_experiment("w2pgnn", f"tu:{tmp_path / 'MINE'}", progress=False,
                         overrides={"resolution": 20, "eval_resolution": 40, "epochs": 3})
    names = {k.split(":", 1)[1] for k in res["metrics"] if k.startswith("test_feasibility:")}
    assert {"mutag", "nci1", "proteins", "imdb-binary"} <= names
