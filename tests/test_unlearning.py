r"""Unlearning requests and the GNNDelete harness pieces, checked by hand on a tiny graph."""

import pytest
import torch

from graphcl.lifelong.unlearning import (
    df_auroc,
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


# ------------------------------------------------------------------------ unlearning a model
def _trained(seed=0, epochs=30, n=120):
    from torch_geometric.data import Data

    from graphcl.data.split import random_link_split
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.models.gae import GAE
    from graphcl.train.engine import Engine
    from graphcl.train.seed import seed_everything
    from graphcl.train.tasks import StaticLinkTask

    g = attributed_sbm(num_nodes=n, num_blocks=3, p_in=0.15, p_out=0.01, num_features=8, seed=0)
    split = random_link_split(g, val_ratio=0.05, test_ratio=0.05, seed=seed)
    data = Data(x=g.x, num_nodes=n)
    seed_everything(seed)
    model = GAE(8, 16, decoder="dot")
    eng = Engine(model, torch.optim.Adam(model.parameters(), lr=0.01), max_epochs=epochs,
                 monitor="valid_auc", progress=False)
    eng.fit(StaticLinkTask(data, split, metrics=("auc", "ap")))
    return eng, data, split


class _Spy:
    r"""Records every message-passing graph the model's encoder is given."""

    def __init__(self, model):
        self.graphs = []
        real = model.encode

        def encode(x, edge_index):
            self.graphs.append(edge_index.clone())
            return real(x, edge_index)

        model.encode = encode


@pytest.mark.parametrize("method", ["grad_ascent", "retrain"])
def test_deleted_edges_are_in_no_graph_after_unlearning(method):
    from graphcl.lifelong.unlearning import unlearn
    from graphcl.train.plugins import Plugin

    eng, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=1)

    class Hooks(Plugin):
        seen = []

        def before_unlearn(self, strategy, request, **kw):
            self.seen.append(("before", request.size))

        def after_unlearn(self, strategy, request, **kw):
            self.seen.append(("after", request.size))

    eng.plugins.append(Hooks())
    spy = _Spy(eng.model)
    before = {k: v.clone() for k, v in eng.model.state_dict().items()}
    out = unlearn(eng, data, split, req, method, **({"epochs": 5} if method == "retrain" else {}))
    assert Hooks.seen == [("before", req.size), ("after", req.size)]
    assert set(out) >= {"test_auc", "test_ap", "valid_auc", "df_auc"}
    n = split.num_nodes
    gone = {(int(u), int(v)) for u, v in split.train_pos[:, req.df_mask].t()}
    gone |= {(v, u) for u, v in gone}
    assert spy.graphs
    for ei in spy.graphs:
        assert not {(int(u), int(v)) for u, v in ei.t()} & gone
        assert ei.size(1) == 2 * (split.train_pos.size(1) - req.size)
    after = eng.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert n == split.num_nodes


def test_gradient_ascent_lowers_the_deleted_scores():
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn

    eng, data, split = _trained()
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 10, seed=2)
    task = UnlearnLinkTask(data, split, req)
    deleted = split.train_pos[:, req.df_mask]

    def mean_score():
        with torch.no_grad():
            eng.model.eval()
            return float(eng.model.decode(eng.model.encode(task.x, task.edge_index),
                                          deleted).sigmoid().mean())

    s0 = mean_score()
    unlearn(eng, data, split, req, "grad_ascent", steps=5, lr=0.01)
    assert mean_score() < s0
    with pytest.raises(KeyError, match="unknown unlearning method"):
        unlearn(eng, data, split, req, "forget-it")


@pytest.mark.slow
def test_unlearning_on_real_cora(data_root, monkeypatch):
    from torch_geometric.data import Data

    from graphcl.data import load
    from graphcl.data.split import random_link_split
    from graphcl.lifelong.unlearning import UnlearnLinkTask, unlearn
    from graphcl.models.gae import GAE
    from graphcl.train.engine import Engine
    from graphcl.train.seed import seed_everything
    from graphcl.train.tasks import StaticLinkTask

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    g = load("cora")
    split = random_link_split(g, val_ratio=0.05, test_ratio=0.05, seed=42)
    data = Data(x=g.x, num_nodes=g.num_nodes)
    seed_everything(42)
    model = GAE(g.num_features, 64, decoder="dot")
    eng = Engine(model, torch.optim.Adam(model.parameters(), lr=0.01), max_epochs=100,
                 monitor="valid_auc", progress=False)
    original = eng.fit(StaticLinkTask(data, split, metrics=("auc", "ap")))["metrics"]
    req = sample_edge_request(split.train_pos, split.test_pos, split.num_nodes, 100, seed=42)
    before = eng.evaluate(UnlearnLinkTask(data, split, req), ["df"])["df_auc"]
    ga = unlearn(eng, data, split, req, "grad_ascent")
    print(f"\nCora GCN: original Dt {original['test_auc']:.3f}, Df before {before:.3f}; "
          f"gradient ascent Dt {ga['test_auc']:.3f}, Df {ga['df_auc']:.3f}")
    assert original["test_auc"] > 0.85  # GCN + dot decoder on Cora
    assert ga["test_auc"] > 0.8 and ga["df_auc"] > before  # forgets without wrecking Dt
