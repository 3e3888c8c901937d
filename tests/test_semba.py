"""SEMBA: balance-theory message routing by hand, the four tasks' metrics, no leakage, state
round-trip, bad input, and the method on the real Bitcoin-OTC stream."""

import warnings

import pytest
import torch
from torch_geometric.data import Data, TemporalData

from graphcl.data.synthetic import signed_temporal_stream
from graphcl.methods import ConfigError, get_method
from graphcl.models.semba import SEMBA, SignedHead
from graphcl.train.signed import SignedTemporalTask, prepare_signed, signed_metrics


def _hand_memories(model: SEMBA) -> None:
    """s+_k = k + 1 and s-_k = -(k + 1) (constant vectors), no pending messages."""
    for k in range(4):
        model.pos_memory.memory[k] = k + 1.0
        model.neg_memory.memory[k] = -(k + 1.0)


@pytest.mark.parametrize("balance", [True, False])
def test_message_routing_by_hand(balance):
    # Events in one batch: 0 -(+)-> 1, 2 -(-)-> 3, 1 -(-)-> 2.
    m = SEMBA(4, memory_dim=2, time_dim=2, embedding_dim=8, heads=2, balance=balance)
    _hand_memories(m)
    src, dst = torch.tensor([0, 2, 1]), torch.tensor([1, 3, 2])
    t = torch.tensor([1.0, 2.0, 3.0])
    msg = torch.tensor([[1.0, 0.5], [-1.0, 1.0], [-1.0, 0.2]])
    m.update_state(src, dst, t, msg)
    got_pos = m.pos_memory.msg_other[:, 0].tolist()
    got_neg = m.neg_memory.msg_other[:, 0].tolist()
    if balance:
        # node 0: friend 1 -> s+_1 = 2, s-_1 = -2
        # node 1: friend 0 (s+ 1, s- -1) and enemy 2 (s- -3 into s+, s+ 3 into s-): means -1, 1
        # node 2: enemy 3 (-4 / 4) and enemy 1 (-2 / 2): means -3, 3
        # node 3: enemy 2: -3 / 3
        assert got_pos == [2.0, -1.0, -3.0, -3.0]
        assert got_neg == [-2.0, 1.0, 3.0, 3.0]
    else:  # each memory reads the partner's memory of the same kind
        assert got_pos == [2.0, 2.0, 3.0, 3.0]
        assert got_neg == [-2.0, -2.0, -3.0, -3.0]
    # both memories of every endpoint get every event's message, with its sign and weight
    assert m.pos_memory.msg_count.tolist() == [1, 2, 2, 1]
    assert m.neg_memory.msg_count.tolist() == [1, 2, 2, 1]
    assert torch.allclose(m.pos_memory.msg_feat[1], torch.tensor([0.0, 0.35]))
    assert torch.allclose(m.neg_memory.msg_feat[3], torch.tensor([-1.0, 1.0]))
    # the stored messages reach the memories at the nodes' next read (GRU of each memory)
    s_pos, _, pending = m.pos_memory(torch.arange(4))
    assert pending.all() and not torch.equal(s_pos, m.pos_memory.memory)


def test_balanced_propagation_swaps_memories_across_negative_edges():
    m = SEMBA(3, memory_dim=2, time_dim=2, embedding_dim=4, heads=1, dropout=0.0)
    m.eval()
    m.neighbors.insert(torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]),
                       torch.tensor([[-1.0, 1.0]]))
    m.pos_memory.memory[1] = torch.tensor([1.0, 2.0])
    m.neg_memory.memory[1] = torch.tensor([3.0, 4.0])
    z_neg, _ = m.embed(torch.tensor([0]), torch.tensor([2.0]))
    # the same edge with a positive sign and node 1's memories swapped gives the same embedding
    m.neighbors.feats[0, 0, 0] = 1.0
    m.pos_memory.memory[1], m.neg_memory.memory[1] = torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])
    z_pos, _ = m.embed(torch.tensor([0]), torch.tensor([2.0]))
    assert torch.allclose(z_neg, z_pos)
    m.balance = False  # without balance the sign does not swap anything
    z_plain, _ = m.embed(torch.tensor([0]), torch.tensor([2.0]))
    m.neighbors.feats[0, 0, 0] = -1.0
    assert torch.allclose(z_plain, m.embed(torch.tensor([0]), torch.tensor([2.0]))[0])


def test_signed_metrics_by_hand():
    sign = torch.tensor([1, 1, -1, -1])
    w = torch.tensor([2.0, 4.0, 6.0, 8.0])
    logits = torch.tensor([3.0, -1.0, -2.0, -3.0])  # predicts +, -, -, -
    res = signed_metrics("sign", logits, sign, w)
    assert res["auc"] == 1.0
    assert res["f1_pos"] == pytest.approx(2 / 3)  # tp 1, fn 1
    assert res["f1_neg"] == pytest.approx(0.8)  # tp 2, fp 1
    assert res["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)
    out = torch.tensor([0.2, 0.4, -0.6, -0.8])  # predicted sign * |w| / w_max, w_max = 10
    res = signed_metrics("weight", out, sign, w, w_max=10.0)
    assert res["rmse"] == pytest.approx(0.0, abs=1e-6) and res["pearson"] == pytest.approx(1.0)
    three = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    none = torch.tensor([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]])
    res = signed_metrics("signed_link", three, torch.tensor([1, -1]), w[:2], none)
    assert res["f1_pos"] == pytest.approx(2 / 3) and res["f1_neg"] == 1.0
    assert res["f1_none"] == pytest.approx(2 / 3)


def _task(n=60, events=3000, task="sign", seed=0):
    data, w_max = prepare_signed(signed_temporal_stream(n, events, seed=seed), task)
    return SignedTemporalTask(data, task, w_max, batch_size=100, eval_batch_size=100), data


class _Strategy:
    def __init__(self, model):
        self.model = model


def test_no_leakage_a_batch_does_not_see_its_own_events():
    torch.manual_seed(0)
    task, data = _task()
    model = torch.nn.ModuleDict({"semba": SEMBA(int(data.num_nodes), 8, 4, 8, heads=2),
                                 "head": SignedHead(8, "sign")})
    st = _Strategy(model)
    start = model["semba"].state_backup()
    base, _ = task.stream_outputs(model["semba"], model["head"], "test")
    s = task.streams["test"]
    s.msg[100:200, 0] *= -1  # flip the signs of the test's second batch
    model["semba"].state_restore(start)
    flipped, _ = task.stream_outputs(model["semba"], model["head"], "test")
    assert torch.equal(base[:200], flipped[:200])  # batches 1 and 2 cannot see the flip
    assert not torch.equal(base[200:], flipped[200:])  # later batches do
    assert st.model is model


def test_state_round_trip_and_determinism():
    torch.manual_seed(1)
    task, data = _task()
    m = SEMBA(int(data.num_nodes), 8, 4, 8, heads=2)
    head = SignedHead(8, "sign")
    task.stream_outputs(m, head, "valid")
    m2 = SEMBA(int(data.num_nodes), 8, 4, 8, heads=2)
    m2.load_state_dict(m.state_dict())
    a, _ = task.stream_outputs(m, head, "test")
    b, _ = task.stream_outputs(m2, head, "test")
    assert torch.equal(a, b)
    assert torch.equal(m.pos_memory.msg_other, m2.pos_memory.msg_other)
    keys = m.transient_state_names()
    assert "neg_memory.memory" in keys and "neighbors.feats" in keys


@pytest.mark.parametrize("task", ["link", "sign", "signed_link", "weight"])
def test_four_tasks_train_on_the_balanced_stream(task):
    m = get_method("semba")
    data = signed_temporal_stream(80, 2000, seed=0)
    if task == "weight":
        data.weight = data.sign.float() * (1 + torch.arange(2000) % 5)
    cfg = m.configure({}, (), {"task": task, "epochs": 2, "batch_size": 200,
                                "memory_dim": 16, "embedding_dim": 16, "heads": 2})
    from graphcl.runner import run_seed

    res = run_seed(m, data, cfg, 0)
    key = {"link": "test_auc", "sign": "test_auc", "signed_link": "test_auc_macro",
           "weight": "test_rmse"}[task]
    assert key in res["metrics"] and res["metrics"][key] == res["metrics"][key]  # not NaN
    if task == "sign":
        assert {"test_f1_neg", "test_trans_auc"} <= set(res["metrics"])


def test_bad_input():
    d = signed_temporal_stream(20, 200, seed=0)
    with pytest.raises(ValueError, match="graded weights"):
        prepare_signed(d, "weight")  # ±1 signs only
    d.sign[5] = 0
    with pytest.raises(ValueError, match="1 neutral events"):
        prepare_signed(d.clone(), "sign", neutral="error")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        kept, _ = prepare_signed(d.clone(), "sign")
    assert kept.num_events == 199 and "dropping 1 neutral" in str(w[0].message)
    d.sign[5] = 3
    with pytest.raises(ValueError, match="event 5: sign 3"):
        prepare_signed(d.clone(), "sign")
    untimed = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), sign=torch.tensor([1, -1]))
    with pytest.raises(ValueError, match="no timestamps"):
        prepare_signed(untimed, "sign")
    with pytest.raises(ValueError, match="no 'sign'"):
        prepare_signed(TemporalData(src=torch.tensor([0]), dst=torch.tensor([1]),
                                    t=torch.tensor([1])), "sign")
    with pytest.raises(ConfigError, match="task must be one of"):
        get_method("semba").configure({}, (), {"task": "sgn"})
    with pytest.raises(ValueError, match="memory_dim must be a positive integer"):
        SEMBA(4, memory_dim=0)
    m = SEMBA(4, 2, 2, 4, heads=2)
    with pytest.raises(ValueError, match=r"msg must be \[1, 2\]"):
        m.update_state(torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]),
                       torch.zeros(1, 1))


def test_bitcoin_otc_sign_prediction(data_root):
    from graphcl.data.registry import load
    from graphcl.runner import run_seed

    m = get_method("semba")
    d = load("bitcoin-otc", root=data_root)
    res = run_seed(m, d, m.configure({}, (), {"epochs": 2}), 0)["metrics"]
    assert res["test_auc"] > 0.7 and res["test_f1_neg"] > 0.3
    assert 0 < res["test_ind_auc"] < 1 and 0 < res["test_trans_auc"] < 1


@pytest.mark.parametrize("model", ["semba", "tgn", "sgcn"])
def test_runs_are_deterministic_and_the_baseline_shares_the_pipeline(model):
    from graphcl.runner import run_seed

    m = get_method("semba")
    cfg = m.configure({}, (), {"model": model, "epochs": 1, "batch_size": 200,
                                "memory_dim": 8, "embedding_dim": 8, "heads": 2})
    data = signed_temporal_stream(60, 1500, seed=3)
    a = run_seed(m, data.clone(), cfg, 5, progress=False)["metrics"]
    b = run_seed(m, data.clone(), cfg, 5, progress=False)["metrics"]
    assert a == b and "test_f1_neg" in a


def test_static_sgcn_baseline_reads_only_the_training_graph():
    from graphcl.models.sgcn import StaticSignedGCN, spectral_features

    # 0 -(+)-> 1, 1 -(-)-> 2, 2 -(+)-> 0 and again 0 -(-)-> 1: the pair (0, 1) cancels
    src, dst = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 1])
    sign = torch.tensor([1, -1, 1, -1])
    m = StaticSignedGCN(5, src, dst, sign, in_channels=2, hidden_channels=4, seed=0)
    # both directions, coalesced: (0,1) is in both signed graphs
    assert m.pos_edge_index.t().tolist() == [[0, 1], [0, 2], [1, 0], [2, 0]]
    assert m.neg_edge_index.t().tolist() == [[0, 1], [1, 0], [1, 2], [2, 1]]
    # isolated nodes (3, 4) have no spectral feature; the adjacency's +-1 entries are symmetric
    assert m.x.shape == (5, 2) and m.x[3:].abs().sum() == 0
    x = spectral_features(m.pos_edge_index, m.neg_edge_index, 5, 2, seed=0)
    assert torch.equal(x, m.x)
    z, ctx = m.embed(torch.tensor([0, 3]), torch.tensor([1.0, 1.0]))
    m.update_state(torch.tensor([3]), torch.tensor([4]), torch.tensor([9.0]),
                   torch.ones(1, 2))  # streamed events change nothing
    z2, _ = m.embed(torch.tensor([0, 3]), torch.tensor([9.0, 9.0]))
    assert ctx is None and torch.equal(z, z2) and z.shape == (2, 4)
    with pytest.raises(ValueError, match="hidden_channels must be even"):
        StaticSignedGCN(5, src, dst, sign, hidden_channels=3)
    with pytest.raises(ConfigError, match="model must be 'semba', 'tgn' or 'sgcn'"):
        get_method("semba").configure({}, (), {"model": "gcn"})
