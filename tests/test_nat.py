"""NAT: the N-caches (hashing, collisions, 2-hop propagation, state), the dictionary join,
no leakage, bad input, and the method on the real UCI stream."""

import pytest
import torch

from graphcl.models.nat import NAT
from graphcl.nn.neighborhood_cache import NeighborhoodCache, last_occurrence


def _identity_hash(cache: NeighborhoodCache) -> None:
    """slot_k(a) = a mod M_k: constants (1, 0), reloaded so the slot tables follow."""
    state = cache.state_dict()
    state["hash_a"] = torch.ones_like(state["hash_a"])
    state["hash_b"] = torch.zeros_like(state["hash_b"])
    cache.load_state_dict(state)


def _events(cache, pairs, t0=1.0):
    """Feeds events (u, v) one per call through update() with raw (unrefreshed) values."""
    for i, (u, v) in enumerate(pairs):
        src, dst = torch.tensor([u]), torch.tensor([v])
        cache.update(src, dst, torch.tensor([i]), torch.tensor([t0 + i]), cache.read(src),
                     cache.read(dst))


def test_hash_and_collisions_by_hand():
    # 5 nodes, M1 = 2, M2 = 2, slot(a) = a mod 2
    for alpha, kept in ((0.0, 1), (1.0, 3)):
        c = NeighborhoodCache(5, (2, 2), dim=1, replace_prob=alpha)
        _identity_hash(c)
        assert c.slot(torch.tensor([0, 1, 2, 3, 4]), 1).tolist() == [0, 1, 0, 1, 0]
        _events(c, [(0, 1), (0, 3)])  # 1 and 3 both hash to node 0's hop-1 slot 1
        hop1 = c.key[0, 1:3].tolist()
        assert hop1 == [-1, kept]  # alpha = 0 keeps the first key, alpha = 1 the newest
        # an update of the key already in the slot always lands
        _events(c, [(0, kept)], t0=10.0)
        assert c.key[0, 2] == kept and c.time[0, 2] == 10.0
    # hop-0 slot: the node itself, with the node's last event
    assert c.key[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert c.eid[0, 0] == 0 and c.time[0, 0] == 10.0 and c.eid[4, 0] == -1


def test_collision_draws_are_seeded_and_follow_alpha():
    def fill(seed):
        c = NeighborhoodCache(3, (1,), dim=1, replace_prob=0.5, seed=seed)
        src = torch.zeros(1, dtype=torch.long)
        landed = []
        for i in range(400):  # node 0's single hop-1 slot, alternating partners 1 and 2
            dst = torch.tensor([1 + i % 2])
            before = int(c.key[0, 1])
            c.update(src, dst, torch.tensor([i]), torch.tensor([float(i)]), c.read(src),
                     c.read(dst))
            if before not in (-1, int(dst)):
                landed.append(int(c.key[0, 1]) == int(dst))
        return landed

    a, b = fill(3), fill(3)
    assert a == b  # deterministic under the seed
    assert 0.4 < sum(a) / len(a) < 0.6  # about alpha of the clashing writes land
    assert fill(4) != a


def test_two_hop_propagation_and_last_write_wins():
    c = NeighborhoodCache(5, (4, 4), dim=1)
    _identity_hash(c)
    _events(c, [(0, 1), (1, 2)])
    # node 2 learns 0 as a 2-hop neighbour from 1's hop-1 cache, with that entry's event
    lo2 = 1 + 4
    assert c.key[2, lo2 + 0] == 0 and c.eid[2, lo2 + 0] == 0 and c.time[2, lo2 + 0] == 1.0
    assert sorted(k for k in c.key[1, 1:5].tolist() if k >= 0) == [0, 2]
    assert (c.key[0, lo2:] == -1).all()  # 1's hop-1 cache was empty when 0 met 1
    # one call with two events of node 3 into the same slot: the later wins
    c2 = NeighborhoodCache(5, (1,), dim=1, replace_prob=1.0)
    src, dst = torch.tensor([3, 3]), torch.tensor([1, 2])
    c2.update(src, dst, torch.tensor([7, 8]), torch.tensor([1.0, 2.0]), c2.read(src),
              c2.read(dst))
    assert c2.key[3, 1] == 2 and c2.eid[3, 1] == 8
    assert last_occurrence(torch.tensor([5, 1, 5, 2, 1])).tolist() == [4, 3, 2]


def test_cache_state_round_trip():
    c = NeighborhoodCache(6, (3, 2), dim=2, replace_prob=0.7, seed=5)
    _events(c, [(0, 1), (1, 2), (2, 3), (0, 3), (4, 5)])
    c2 = NeighborhoodCache(6, (3, 2), dim=2, replace_prob=0.7, seed=9)
    c2.load_state_dict(c.state_dict())
    for k in ("key", "eid", "time", "value", "writes", "slot_cols"):
        assert torch.equal(getattr(c, k), getattr(c2, k)), k
    _events(c, [(3, 5), (5, 0)])
    _events(c2, [(3, 5), (5, 0)])
    assert torch.equal(c.key, c2.key) and torch.equal(c.value, c2.value)
    backup = c.state_backup()
    c.reset_state()
    assert (c.key[:, 1:] == -1).all()
    c.state_restore(backup)
    assert torch.equal(c.key, c2.key)
    assert c.nbytes() == 6 * 6 * (8 + 8 + 8 + 2 * 4) + 8


def test_joint_codes_of_a_common_neighbour():
    # events (0, 2), (1, 2): for the pair (0, 1), key 2 is a 1-hop neighbour of both
    # (bits 1 and 4 -> 18); key 0 is 0 itself (bit 0) and a 2-hop neighbour of 1 via 2
    # (bit 5 -> 33); key 1 is 1 itself (bit 3 -> 8)
    m = NAT(4, sizes=(4, 4))
    _identity_hash(m.cache)
    for i, (u, v) in enumerate([(0, 2), (1, 2)]):
        m.update_state(torch.tensor([u]), torch.tensor([v]), torch.tensor([float(i + 1)]),
                       e_id=torch.tensor([i]))
    key = m.cache.read(torch.tensor([0, 1])).key
    code, canon = m.pair_codes(key, torch.tensor([0]), torch.tensor([1]))
    got = {int(code[0, j]): int(torch.cat([key[0], key[1]])[j]) for j in range(code.size(1))
           if canon[0, j]}
    assert got == {1 + 32: 0, 2 + 16: 2, 8: 1}
    # a pair without common neighbours: (2, 3) -- 3 has no events
    key = m.cache.read(torch.tensor([2, 3])).key
    code, canon = m.pair_codes(key, torch.tensor([0]), torch.tensor([1]))
    # 2 itself (bit 0); 0 and 1, 1-hop neighbours of the left node 2 (bit 1); 3 itself (bit 3)
    assert sorted(code[canon].tolist()) == [1, 2, 2, 8]


def test_pair_codes_match_a_naive_join():
    g = torch.Generator().manual_seed(0)
    m = NAT(30, sizes=(8, 4), seed=3)
    src = torch.randint(0, 30, (300,), generator=g)
    dst = torch.randint(0, 30, (300,), generator=g)
    t = torch.arange(300, dtype=torch.float64)
    for i in range(0, 300, 20):
        m.update_state(src[i:i + 20], dst[i:i + 20], t[i:i + 20],
                       e_id=torch.arange(i, i + 20))
    nodes = torch.arange(30)
    key = m.cache.read(nodes).key
    left, right = torch.randint(0, 30, (40,), generator=g), torch.randint(0, 30, (40,), generator=g)
    code, canon = m.pair_codes(key, left, right)
    hop = m.cache.slot_hop.tolist()
    for p in range(40):
        want: dict[int, int] = {}
        for side, r in ((0, int(left[p])), (3, int(right[p]))):
            for j, k in enumerate(key[r].tolist()):
                if k >= 0:
                    want[k] = want.get(k, 0) | (1 << (hop[j] + side))
        keys = torch.cat([key[left[p]], key[right[p]]])
        got = {int(keys[j]): int(code[p, j]) for j in range(keys.numel()) if canon[p, j]}
        assert got == want


def _stream(n=40, events=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n // 2, (events,), generator=g)
    dst = torch.randint(n // 2, n, (events,), generator=g)
    t = torch.sort(torch.rand(events, generator=g, dtype=torch.float64) * 1000).values
    return src, dst, t


@pytest.mark.parametrize("pooling", ["sum", "attention"])
def test_no_leakage_and_pure_forward(pooling):
    src, dst, t = _stream()
    torch.manual_seed(0)
    m = NAT(40, sizes=(8, 4), pooling=pooling, time_encoding="absolute").eval()
    for i in range(0, 300, 50):
        _, _, ctx = m(src[i:i + 50], dst[i:i + 50], t[i:i + 50])
        m.update_state(src[i:i + 50], dst[i:i + 50], t[i:i + 50], ctx=ctx,
                       e_id=torch.arange(i, i + 50))
    b = slice(300, 350)
    before = m.state_backup()
    p1, n1, _ = m(src[b], dst[b], t[b], dst[b].flip(0))
    assert all(torch.equal(v, m.state_backup()[k]) for k, v in before.items())  # pure
    # change every other event of the batch: the untouched events score the same
    src2, dst2 = src[b].clone(), dst[b].clone()
    src2[1::2], dst2[1::2] = dst2[1::2].flip(0) - 20, src2[1::2].flip(0) + 20
    p2, _, _ = m(src2, dst2, t[b], dst[b].flip(0))
    assert torch.allclose(p1[0::2], p2[0::2], atol=1e-6)
    # writing the batch changes its own scores (the state did move)
    m.update_state(src[b], dst[b], t[b], e_id=torch.arange(300, 350))
    p3, _, _ = m(src[b], dst[b], t[b], dst[b].flip(0))
    assert not torch.allclose(p1, p3)


def test_model_state_round_trip_and_mrr_shape():
    src, dst, t = _stream()
    torch.manual_seed(1)
    m = NAT(40, sizes=(8, 4)).eval()
    for i in range(0, 200, 40):
        m.update_state(src[i:i + 40], dst[i:i + 40], t[i:i + 40], e_id=torch.arange(i, i + 40))
    m2 = NAT(40, sizes=(8, 4)).eval()
    m2.load_state_dict(m.state_dict())
    b = slice(200, 240)
    assert torch.equal(m(src[b], dst[b], t[b])[0], m2(src[b], dst[b], t[b])[0])
    pos, neg, _ = m(src[b], dst[b], t[b], torch.randint(20, 40, (40, 7)))
    assert pos.shape == (40,) and neg.shape == (40, 7)
    assert m.state_nbytes() == m.cache.nbytes() + 40 * (72 * 4 + 8 + 8 + 8)


def test_bad_input():
    with pytest.raises(ValueError, match="cache sizes must be positive"):
        NeighborhoodCache(5, (32, 0))
    with pytest.raises(ValueError, match="replace_prob"):
        NeighborhoodCache(5, (4,), replace_prob=1.5)
    c = NeighborhoodCache(5, (4,))
    with pytest.raises(ValueError, match="node id 7 is outside the cache"):
        c.read(torch.tensor([1, 7]))
    m = NAT(5, sizes=(4,))
    with pytest.raises(ValueError, match="sorted by time"):
        m.update_state(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([5.0, 4.0]))
    with pytest.raises(ValueError, match="outside"):
        m.update_state(torch.tensor([0]), torch.tensor([9]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="at most 2 hops"):
        NAT(5, sizes=(4, 4, 4))
    from graphcl.methods import ConfigError, get_method

    with pytest.raises(ConfigError, match="n_degree"):
        get_method("nat").configure({}, (), {"n_degree": [32, -1]})
    with pytest.raises(ConfigError, match="replace_prob"):
        get_method("nat").configure({}, (), {"replace_prob": -0.1})


def test_nat_learns_on_real_collegemsg(data_root, monkeypatch, tmp_path, one_thread):
    # the real UCI stream through the runner: 4,000 training events, one epoch; TGN's split
    # and negatives, the new-node test by NAT's replay
    from graphcl.data.registry import load
    from graphcl.methods import get_method
    from graphcl.runner import run_seed

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    data = load("collegemsg")
    m = get_method("nat")
    cfg = m.configure({}, ("collegemsg",), {"max_train_events": 4000, "epochs": 1,
                                            "mrr_num_neg": 0, "eval_batch_size": 500})
    out = run_seed(m, data, cfg, 0, progress=False)["metrics"]
    assert out["test_ap"] > 0.7 and out["test_ind_ap"] > 0.6  # chance is 0.5
    assert out["test_ind_replay_ap"] > 0.6 and out["test_ind_replay_ap"] != out["test_ind_ap"]
