r"""Unlearning requests and the GNNDelete harness pieces, checked by hand on a tiny graph."""

import pytest
import torch

from graphcl.lifelong.unlearning import (
    UnlearnRequest,
    df_auroc,
    df_scores,
    edge_pools,
    edge_request,
    node_request,
    retained_draws,
    sample_edge_request,
)

# a path 0-1-2-3-4-5-6 plus a chord 0-2; undirected pairs once, u < v
TRAIN = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 6, 2]])
TEST = torch.tensor([[0], [3]])  # the test edge (0, 3)
N = 7


def test_edge_request_masks_and_retained_graph():
    r = edge_request(TRAIN, torch.tensor([[2, 5], [1, 4]]), N)  # (1,2) given reversed, (4,5)
    assert r.df_mask.tolist() == [False, True, False, False, True, False, False]
    assert r.size == 2 and r.kind == "edge"
    kept = r.retained_edges(TRAIN)
    assert kept.t().tolist() == [[0, 1], [2, 3], [3, 4], [5, 6], [0, 2]]


@pytest.mark.parametrize("edges, message", [
    (torch.zeros(2, 0, dtype=torch.long), "at least one edge"),
    (torch.tensor([[0], [6]]), r"edge \(0, 6\) is not a training edge"),
    (torch.tensor([[1, 2], [2, 1]]), "requested twice"),
    (torch.tensor([[0], [9]]), "must lie in"),
])
def test_edge_request_validates(edges, message):
    with pytest.raises(ValueError, match=message):
        edge_request(TRAIN, edges, N)


def test_node_request_takes_every_incident_edge():
    r = node_request(TRAIN, torch.tensor([2]), N)
    assert r.df_mask.tolist() == [False, True, True, False, False, False, True]
    assert r.nodes.tolist() == [2]
    with pytest.raises(ValueError, match="requested twice"):
        node_request(TRAIN, torch.tensor([2, 2]), N)
    lonely = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="nothing to forget"):
        node_request(lonely, torch.tensor([5]), N)


def test_pools_by_hand():
    # test endpoints {0, 3}; 2 hops in the training graph: 0 -> {1, 2} -> {3}; 3 -> {2, 4} -> {1, 5}
    # inside = {0, 1, 2, 3, 4, 5}: every pair with both ends inside is "in"; (5, 6) is "out"
    pool_in, pool_out = edge_pools(TRAIN, TEST, N)
    assert pool_in.tolist() == [True, True, True, True, True, False, True]
    assert pool_out.tolist() == [False] * 5 + [True, False]


def test_sampling_sizes_seeds_and_sequences():
    pool_in, pool_out = edge_pools(TRAIN, TEST, N)
    r = sample_edge_request(TRAIN, TEST, N, 30, where="in", seed=0)  # 30 % of 7 pairs -> 2
    assert r.size == 2 and not (r.df_mask & pool_out).any()
    assert torch.equal(r.df_mask, sample_edge_request(TRAIN, TEST, N, 30, seed=0).df_mask)
    out = sample_edge_request(TRAIN, TEST, N, 10, where="out", seed=0)  # 0.7 -> 1 pair
    assert out.df_mask.nonzero().view(-1).tolist() == [5]
    with pytest.raises(ValueError, match="fewer than"):
        sample_edge_request(TRAIN, TEST, N, 50, where="out")
    with pytest.raises(ValueError, match="selects no"):
        sample_edge_request(TRAIN, TEST, N, 1)
    with pytest.raises(ValueError, match="'in' or 'out'"):
        sample_edge_request(TRAIN, TEST, N, 30, where="near")
    both = r.then(out)
    assert both.size == 3 and torch.equal(both.df_mask, r.df_mask | out.df_mask)
    with pytest.raises(ValueError, match="overlap"):
        r.then(r)


def test_df_auroc_by_hand():
    r = edge_request(TRAIN, torch.tensor([[0, 1], [1, 2]]), N)  # pairs 0 and 1
    scores = torch.tensor([0.1, 0.9, 0.5, 0.95, 0.2, 0.3, 0.0])
    draws = torch.tensor([[2, 3], [4, 5]])
    # draw 1: retained {0.5, 0.95} vs deleted {0.1, 0.9}: 3 of 4 pairs ordered -> 0.75
    # draw 2: retained {0.2, 0.3} vs deleted {0.1, 0.9}: 2 of 4 -> 0.5
    assert df_auroc(scores, r, draws) == pytest.approx(0.625)
    d = retained_draws(r, draws=500, seed=3)
    assert d.shape == (500, 2) and not r.df_mask[d].any()
    assert torch.equal(d, retained_draws(r, draws=500, seed=3))


def test_requests_on_real_cora_ml(data_root, monkeypatch):
    from graphcl.data import load
    from graphcl.data.split import random_link_split

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    try:
        g = load("cora-ml")
    except FileNotFoundError:
        pytest.skip("Cora-ML not present")
    split = random_link_split(g, val_ratio=0.05, test_ratio=0.05, seed=42)  # GNNDelete's split
    n, train = split.num_nodes, split.train_pos
    pool_in, pool_out = edge_pools(train, split.test_pos, n)
    assert pool_in.any() and pool_out.any() and not (pool_in & pool_out).any()
    r = sample_edge_request(train, split.test_pos, n, 100, where="in", seed=42)
    assert r.size == 100 and pool_in[r.df_mask].all()
    kept = r.retained_edges(train)
    gone = train[:, r.df_mask]
    key = lambda e: set(map(tuple, e.t().tolist()))  # noqa: E731
    assert not key(gone) & key(kept)  # no deleted pair in the retained message-passing graph
    assert kept.size(1) == train.size(1) - 100


def test_df_scores_match_the_per_draw_metrics_with_ties():
    from graphcl.evaluate.metrics import average_precision, roc_auc

    g = torch.Generator().manual_seed(0)
    for ties in (False, True):
        n = 200
        scores = torch.randint(0, 6, (n,), generator=g).float() if ties else torch.randn(n, generator=g)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=g)[:30]] = True
        req = UnlearnRequest("edge", mask)
        draws = retained_draws(req, draws=20, seed=1)
        got = df_scores(scores, req, draws)
        labels = torch.cat([torch.zeros(30), torch.ones(30)])
        both = [torch.cat([scores[mask], scores[d]]) for d in draws]
        assert got["auc"] == pytest.approx(sum(roc_auc(labels, b) for b in both) / 20, abs=1e-6)
        assert got["ap"] == pytest.approx(sum(average_precision(labels, b) for b in both) / 20,
                                          abs=1e-6)


def test_feature_request_keeps_the_edges_and_zeroes_the_rows():
    r = node_request(TRAIN, torch.tensor([2]), N, features_only=True)
    assert r.kind == "feature" and r.size == 3  # scored on node 2's pairs
    assert r.retained_edges(TRAIN).size(1) == TRAIN.size(1)  # no pair leaves the graph
    x = torch.ones(N, 3)
    assert r.retained_features(x)[2].abs().sum() == 0 and r.retained_features(x)[1].sum() == 3
    both = r.then(edge_request(TRAIN, torch.tensor([[5], [6]]), N))
    assert both.kind == "mixed" and both.retained_edges(TRAIN).size(1) == TRAIN.size(1) - 1


# ------------------------------------------------------------------------ unlearning a model
METHODS = ["retrain", "grad_ascent", "gnndelete", "d2dgn", "ssd", "analytic"]
SMALL = {"retrain": {"epochs": 5}, "gnndelete": {"epochs": 5}, "d2dgn": {"epochs": 5}}


def _trained(seed=0, epochs=30, n=120, backbone="gcn"):
    from torch_geometric.data import Data

    from graphcl.data.split import random_link_split
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.models.unlearning import DotGNN
    from graphcl.train.engine import Engine
    from graphcl.train.seed import seed_everything
    from graphcl.train.tasks import StaticLinkTask

    g = attributed_sbm(num_nodes=n, num_blocks=3, p_in=0.15, p_out=0.01, num_features=8, seed=0)
    split = random_link_split(g, val_ratio=0.05, test_ratio=0.05, seed=seed)
    data = Data(x=g.x, num_nodes=n)
    seed_everything(seed)
    model = DotGNN(8, 16, 8, backbone=backbone)
    eng = Engine(model, torch.optim.Adam(model.parameters(), lr=0.01), max_epochs=epochs,
                 monitor="valid_auc", progress=False)
    eng.fit(StaticLinkTask(data, split, metrics=("auc", "ap")))
    return model, data, split


class _Spy:
    r"""Records every message-passing graph the model's encoder is given."""

    def __init__(self, model):
        self.graphs = []
        for m in model.modules():  # wrappers (GNNDelete, analytic) call their base's layers
            if hasattr(m, "layers") and hasattr(m, "convs"):
                real = m.layers

                def layers(x, edge_index, *a, _real=real, **kw):
                    self.graphs.append(edge_index.clone())
                    return _real(x, edge_index, *a, **kw)

                m.layers = layers


def _pairs(ei):
    return {(int(u), int(v)) for u, v in ei.t()}


@pytest.mark.parametrize("method", METHODS)
def test_deleted_edges_are_in_no_graph_after_unlearning(method):
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn
    from graphcl.train.engine import Engine
    from graphcl.train.plugins import Plugin

    model, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=1)
    seen = []

    class Hooks(Plugin):
        def before_unlearn(self, strategy, request, **kw):
            seen.append(("before", request.size))

        def after_unlearn(self, strategy, request, **kw):
            seen.append(("after", request.size))

    gone = _pairs(split.train_pos[:, req.df_mask])
    gone |= {(v, u) for u, v in gone}
    spy = _Spy(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    unlearned, out = unlearn(model, data, split, req, method, plugins=[Hooks()],
                             **SMALL.get(method, {}))
    assert seen == [("before", req.size), ("after", req.size)]
    assert set(out) >= {"test_auc", "test_ap", "valid_auc", "df_auc", "df_ap", "df_prob"}
    if method not in ("ssd", "analytic", "gnndelete"):  # these read the graph before the
        # deletion by design: importances, the features to remove, the original's targets
        assert spy.graphs and all(not _pairs(ei) & gone for ei in spy.graphs)
    spy.graphs.clear()
    Engine(unlearned, None, max_epochs=0, progress=False).evaluate(
        UnlearnLinkTask(data, split, req), ["valid", "test", "df"])
    assert spy.graphs
    for ei in spy.graphs:  # every graph used after unlearning
        assert not _pairs(ei) & gone
        assert ei.size(1) == 2 * (split.train_pos.size(1) - req.size)
    after = unlearned.state_dict()
    if method != "ssd":  # SSD may select no parameter on a tiny graph (alpha = 10)
        assert any(k not in before or not torch.equal(before[k], after[k]) for k in after)


def test_bad_requests_leave_the_model_unchanged():
    from graphcl.lifelong.unlearning import unlearn

    model, data, split = _trained()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrong = UnlearnRequest("edge", torch.zeros(split.train_pos.size(1) + 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="training pairs"):
        unlearn(model, data, split, wrong, "grad_ascent")
    with pytest.raises(KeyError, match="unknown unlearning method"):
        unlearn(model, data, split, wrong, "forget-it")
    with pytest.raises(ValueError, match="alpha"):
        unlearn(model, data, split, wrong, "d2dgn", alpha=2.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_gradient_ascent_lowers_the_deleted_scores():
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn

    model, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=2)
    task = UnlearnLinkTask(data, split, req)

    def mean_score(m):
        with torch.no_grad():
            return float(m.decode(m.encode(task.x, task.edge_index), task.deleted).sigmoid().mean())

    s0 = mean_score(model)
    m, _ = unlearn(model, data, split, req, "grad_ascent", epochs=5, lr=0.01)
    assert mean_score(m) < s0


def test_gnndelete_operators_touch_only_the_deleted_neighbourhood():
    from graphcl.lifelong.unlearning import UnlearnLinkTask, hop_mask, unlearn
    from graphcl.lifelong.unlearning.methods import GNNDelete
    from graphcl.models.unlearning import DeletionGNN

    # hop sets by hand: the path 0-1-2-3-4-5-6 + chord 0-2, seeds {3}
    assert hop_mask(TRAIN, torch.tensor([3]), N, 1).nonzero().view(-1).tolist() == [2, 3, 4]
    assert hop_mask(TRAIN, torch.tensor([3]), N, 2).nonzero().view(-1).tolist() == [0, 1, 2, 3,
                                                                                 4, 5]
    model, data, split = _trained()
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 5, seed=3)
    wrapped, _ = unlearn(model, data, split, req, GNNDelete(epochs=20, lr=0.01))
    assert isinstance(wrapped, DeletionGNN)
    assert all(torch.equal(base_state[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())  # the caller's model untouched
    assert all(not p.requires_grad for p in wrapped.base.parameters())  # a frozen copy
    fresh = DeletionGNN(model, [m.clone() for m in wrapped.masks()])
    assert torch.allclose(fresh.operators[0], torch.full_like(fresh.operators[0], 1e-3))
    task = UnlearnLinkTask(data, split, req)
    seeds = task.deleted.reshape(-1).unique()
    masks = wrapped.masks()
    assert torch.equal(masks[1], hop_mask(split.train_pos, seeds, split.num_nodes, 2))
    with torch.no_grad():  # nodes beyond two hops of the deleted pairs: the frozen model's
        z, z0 = wrapped.encode(task.x, task.edge_index), model.encode(task.x, task.edge_index)
    outside = ~masks[1]
    assert outside.any() and torch.allclose(z[outside], z0[outside])
    assert not torch.allclose(z[masks[1]], z0[masks[1]])


def test_d2dgn_losses_by_hand():
    from graphcl.lifelong.unlearning import UnlearnLinkTask
    from graphcl.lifelong.unlearning.methods import D2DGN, _bernoulli_kl
    from graphcl.train.engine import Engine

    # KL([.5,.5] || [σ(0)...]) = 0; KL([p,1-p] || [.5,.5]) = log 2 - H(p)
    assert float(_bernoulli_kl(torch.zeros(3), torch.zeros(3))) == pytest.approx(0.0, abs=1e-7)
    p = torch.sigmoid(torch.tensor(2.0))
    h = -(p * p.log() + (1 - p) * (1 - p).log())
    assert float(_bernoulli_kl(torch.tensor([2.0]), torch.tensor([0.0]))) == pytest.approx(
        float(torch.log(torch.tensor(2.0)) - h), rel=1e-5)
    # alpha = 1 from the original student on the retained graph: the preserver *is* the
    # student, so the loss is zero and nothing moves
    model, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=4)
    m, opt, task, _ = D2DGN(alpha=1.0).setup(model, UnlearnLinkTask(data, split, req))
    eng = Engine(m, opt, max_epochs=0, progress=False)
    task.begin_experience(eng)
    assert float(task.training_loss(eng, None).detach()) == pytest.approx(0.0, abs=1e-6)
    # alpha = 0: the deleted pairs are pulled toward the destroyer's (near-chance) scores
    m, opt, task, _ = D2DGN(alpha=0.0, epochs=1).setup(model, UnlearnLinkTask(data, split, req))
    task.begin_experience(eng)
    assert float(task.training_loss(eng, None).detach()) > 0


def test_ssd_dampens_exactly_the_selected_parameters():
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn
    from graphcl.lifelong.unlearning.methods import SSD, _importance

    model, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=5)
    theta = {k: v.clone() for k, v in model.named_parameters()}
    # the importances SSD sees: every training pair + as many negatives, and the deleted pairs
    from graphcl.data.split import sample_train_negatives

    task = UnlearnLinkTask(data, split, req)
    neg = sample_train_negatives(split, split.train_pos.size(1),
                                 generator=torch.Generator().manual_seed(0))
    pairs = torch.cat([split.train_pos, neg], 1)
    labels = torch.cat([torch.ones(split.train_pos.size(1)), torch.zeros(neg.size(1))])
    imp_d = _importance(model, data.x, task.full_edge_index, pairs, labels, 64)
    imp_f = _importance(model, data.x, task.full_edge_index, task.deleted,
                        torch.ones(req.size), 64)
    m, _ = unlearn(model, data, split, req, SSD(alpha=1.0, lam=1.0))
    moved = 0
    for k, p in m.named_parameters():
        sel = imp_f[k] > imp_d[k]
        factor = (imp_d[k] / imp_f[k].clamp_min(1e-30)).clamp(max=1.0)
        expect = torch.where(sel, theta[k] * factor, theta[k])
        assert torch.allclose(p, expect, atol=1e-7)
        moved += int(sel.sum())
    assert moved > 0


def test_analytic_removal_is_exact():
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn
    from graphcl.lifelong.unlearning.methods import Analytic, AnalyticLinkModel
    from graphcl.models.unlearning import AnalyticHead

    # the head by hand: ridge regression of y on phi
    g = torch.Generator().manual_seed(0)
    phi, y = torch.randn(50, 4, generator=g), torch.rand(50, generator=g)
    head = AnalyticHead(4, reg=0.5)
    head.fit(phi, y, chunk=7)
    ridge = torch.linalg.solve(phi.double().T @ phi.double() + 0.5 * torch.eye(4, dtype=torch.float64),
                               phi.double().T @ y.double())
    assert torch.allclose(head.W.view(-1), ridge, atol=1e-10)
    head.remove(phi[10:30], y[10:30], chunk=6)
    keep = torch.cat([phi[:10], phi[30:]]), torch.cat([y[:10], y[30:]])
    again = AnalyticHead(4, reg=0.5)
    again.fit(*keep)
    assert torch.allclose(head.W, again.W, atol=1e-10) and int(head.count) == 30
    with pytest.raises(ValueError, match="cannot remove"):
        AnalyticHead(4).remove(phi, y)
    # on a trained encoder: unlearning == the analytic model fitted without the deleted pairs
    model, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=6)
    m, _ = unlearn(model, data, split, req, Analytic(seed=0))
    assert isinstance(m, AnalyticLinkModel)
    ref = Analytic(seed=0).wrap(model, data.x, split)  # the same negatives, all positives ...
    task = UnlearnLinkTask(data, split, req)
    with torch.no_grad():  # ... minus the deleted ones, fitted from scratch
        h = model.encode(data.x, split.train_edge_index())
        fresh = AnalyticLinkModel(model, ref.head.W.size(0))
        from graphcl.data.split import sample_train_negatives

        neg = sample_train_negatives(split, split.train_pos.size(1),
                                     generator=torch.Generator().manual_seed(0))
        fresh.head.fit(AnalyticHead.features(h, split.train_pos[:, req.dr_mask]),
                       torch.ones(int(req.dr_mask.sum())))
        fresh.head.fit(AnalyticHead.features(h, neg), torch.zeros(neg.size(1)))
        pairs = torch.cat([split.test_pos, split.test_neg, task.deleted], 1)
        hr = m.encode(task.x, task.edge_index)
        assert (m.decode(hr, pairs) - fresh.decode(hr, pairs)).abs().max() < 1e-5
        assert not torch.allclose(m.head.W, ref.head.W)


@pytest.mark.parametrize("backbone", ["gat", "gin"])
def test_backbones_unlearn(backbone):
    from graphcl.lifelong.unlearning import unlearn

    model, data, split = _trained(backbone=backbone, epochs=10)
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=7)
    for method in ("gnndelete", "d2dgn"):
        _, out = unlearn(model, data, split, req, method, epochs=3)
        assert 0 <= out["df_auc"] <= 1 and 0 <= out["test_auc"] <= 1


def test_sparse_features_give_the_dense_result():
    from graphcl.models.unlearning import DotGNN

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 40, generator=g) < 0.05).float()
    ei = torch.randint(0, 300, (2, 900), generator=g)
    for backbone in ("gcn", "gat"):
        torch.manual_seed(0)
        m = DotGNN(40, 16, 8, backbone=backbone)
        assert m._input(x).layout == torch.sparse_csr
        sparse = m.encode(x, ei)
        m.__dict__["_csr"] = (x, x._version, x)  # force the dense path
        assert torch.allclose(sparse, m.encode(x, ei), atol=1e-5)


# ------------------------------------------------------------------------ graphcl run <method>
QUICK = {"epochs": 40, "eval_every": 20, "hidden": 16, "out": 8, "unlearn.size": 100,
         "unlearn.draws": 20}


@pytest.fixture
def fresh_cache(monkeypatch):
    from graphcl.methods import unlearn as um

    monkeypatch.setattr(um, "_MEMORY", {})
    return um


@pytest.mark.usefixtures("one_thread")
def test_run_records_the_references_and_reuses_them(tmp_path, fresh_cache, monkeypatch):
    from graphcl.runner import run_experiment

    over = {**QUICK, "d2dgn.epochs": 5}
    res = run_experiment("d2dgn", "synthetic:sbm", overrides=over, progress=False,
                         out=tmp_path / "d2dgn.json")
    m = {k: v["mean"] for k, v in res["metrics"].items()}
    for key in ("test_auc", "df_auc", "df_mi", "mi_before", "mi_ratio", "retrain_test_auc",
                "retrain_df_auc", "retrain_df_mi", "original_test_auc", "original_df_auc",
                "retrain_kl", "retrain_param_dist", "mi_attack_auc"):
        assert key in m and m[key] is not None, key
    assert {"unlearn_s", "retrain_s", "original_s", "speedup_vs_retrain"} <= set(res["stats"])
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "unlearning-cache").iterdir())
    assert cached == ["attack", "original", "retrain"]
    # another method in the same results folder (a new process: memory cleared) reads them
    monkeypatch.setattr(fresh_cache, "_MEMORY", {})

    def no_training(*a, **k):
        raise AssertionError("the cached model was trained again")

    monkeypatch.setattr(fresh_cache._UnlearnMethod, "_train", no_training)
    ssd = run_experiment("ssd", "synthetic:sbm", overrides=QUICK, progress=False,
                         out=tmp_path / "ssd.json")
    for key in ("retrain_test_auc", "retrain_df_auc", "original_test_auc"):
        assert ssd["metrics"][key] == res["metrics"][key]


@pytest.mark.usefixtures("one_thread")
def test_retrain_is_its_reference_twin(fresh_cache):
    from graphcl.runner import run_experiment

    ref = run_experiment("grad_ascent", "synthetic:sbm", overrides=QUICK, progress=False)
    own = run_experiment("retrain", "synthetic:sbm", overrides=QUICK, progress=False)
    for k in ("test_auc", "test_ap", "df_auc"):
        assert own["metrics"][k]["mean"] == pytest.approx(ref["metrics"][f"retrain_{k}"]["mean"])
        assert own["metrics"][f"retrain_{k}"] == own["metrics"][k]


def _register_count():
    from graphcl.lifelong import register_plugin
    from graphcl.train.plugins import Plugin

    @register_plugin("test-count-requests")
    class Count(Plugin):
        calls: list = []

        def before_unlearn(self, strategy, request, **kw):
            Count.calls.append(request.size)

    return Count


_Count = _register_count()


@pytest.mark.usefixtures("one_thread")
def test_sequential_requests_are_experiences(fresh_cache):
    from graphcl.runner import run_experiment

    calls = _Count.calls
    calls.clear()
    res = run_experiment("d2dgn", "synthetic:sbm", progress=False,
                         overrides={**QUICK, "d2dgn.epochs": 3, "unlearn.requests": 3},
                         plugins=["test-count-requests"])
    assert calls == [100, 100, 100]  # each experience forgets its own request
    assert "first_test_auc" in res["metrics"]
    node = run_experiment("analytic", "synthetic:sbm", progress=False,
                          overrides={**QUICK, "unlearn.kind": "node", "unlearn.size": 5,
                                     "unlearn.mi": False})
    assert 0 <= node["metrics"]["df_auc"]["mean"] <= 1


def test_run_config_errors(fresh_cache):
    from graphcl.methods import ConfigError
    from graphcl.runner import run_experiment

    for over, msg in [({"d2dgn.alpha": 0.3}, "sets an option of 'd2dgn'"),
                      ({"unlearn.kind": "graph"}, "unlearn.kind"),
                      ({"unlearn.sizes": 3}, "unknown option"),
                      ({"unlearn.requests": 0}, "requests")]:
        with pytest.raises(ConfigError, match=msg):
            run_experiment("ssd", "synthetic:sbm", overrides=over, progress=False)
    with pytest.raises(ValueError, match="fewer than"):  # more edges than the pool holds
        run_experiment("ssd", "synthetic:sbm", overrides={**QUICK, "unlearn.size": 100000},
                       progress=False)


def _register_kill():
    from graphcl.lifelong import register_plugin
    from graphcl.train.plugins import Plugin

    @register_plugin("test-kill-unlearning")
    class Kill(Plugin):
        r"""Raises KeyboardInterrupt after the unlearning's second epoch, once per tag."""

        fired: set = set()

        def __init__(self, tag: str = "") -> None:
            self.tag = tag

        def after_training_epoch(self, strategy, **kw):
            if strategy.epoch == 2 and self.tag not in Kill.fired:
                Kill.fired.add(self.tag)
                raise KeyboardInterrupt("simulated kill")

    return Kill


_Kill = _register_kill()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("method", ["d2dgn", "gnndelete"])
def test_killed_unlearning_resumes_exactly(method, tmp_path, fresh_cache):
    from graphcl.runner import run_experiment

    over = {**QUICK, f"{method}.epochs": 6, "unlearn.select": "valid_auc"}
    _Kill.fired.add(f"{method}-ref")
    ref = run_experiment(method, "synthetic:sbm", overrides=over, progress=False,
                         plugins=[f"test-kill-unlearning:tag={method}-ref"],
                         out=tmp_path / "ref.json")
    fresh_cache._MEMORY.clear()
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(method, "synthetic:sbm", overrides=over, progress=False, out=out,
                       plugins=[f"test-kill-unlearning:tag={method}"])
    fresh_cache._MEMORY.clear()
    res = run_experiment(method, "synthetic:sbm", overrides=over, progress=False, out=out,
                         plugins=[f"test-kill-unlearning:tag={method}"])
    drop = ("unlearn_s", "speedup_vs_retrain", "original_s", "retrain_s")
    assert res["metrics"] == ref["metrics"]
    assert res["curves"] == ref["curves"]
    assert {k: v for k, v in res["stats"].items() if k not in drop and "_s_" not in k} == \
        {k: v for k, v in ref["stats"].items() if k not in drop and "_s_" not in k}


@pytest.mark.slow
def test_unlearning_on_real_cora(data_root, monkeypatch, fresh_cache):
    from graphcl.runner import run_experiment

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    over = {"epochs": 400, "eval_every": 100}
    res = {m: run_experiment(m, "cora", seeds=[42], overrides=over, progress=False)
           for m in ("grad_ascent", "d2dgn", "ssd", "analytic")}
    m = {k: {a: b["mean"] for a, b in r["metrics"].items()} for k, r in res.items()}
    print("\n" + "\n".join(f"Cora {k}: Dt {v['test_auc']:.3f} Df {v['df_auc']:.3f} "
                           f"(retrain Dt {v['retrain_test_auc']:.3f} Df "
                           f"{v['retrain_df_auc']:.3f})" for k, v in m.items()))
    for k, v in m.items():
        assert v["original_test_auc"] > 0.87  # GCN + dot decoder on Cora
        assert v["mi_attack_auc"] > 0.55  # the attack works on its own held-out pairs
        assert v["df_auc"] > v["original_df_auc"]  # the deleted pairs moved away from D_r
        if k != "grad_ascent":  # utility kept: Dt near the retrained model's
            assert v["test_auc"] > v["retrain_test_auc"] - 0.03, k
