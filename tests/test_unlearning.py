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
