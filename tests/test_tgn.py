
import pytest
import torch
from torch import Tensor, nn

from graphcl.data.synthetic import temporal_sbm_stream
from graphcl.models.tgn import PRESETS, TGN
from graphcl.nn.memory import NodeMemory
from graphcl.nn.temporal_neighbors import RecentNeighborStore
from graphcl.nn.time_encoding import TimeEncoder, TimeProjection
from graphcl.train.plugins import Plugin
from graphcl.train.temporal import EventStream, destination_sampler

pytestmark = pytest.mark.usefixtures("one_thread")


class AddUpdater(nn.Module):
    """s <- s + (partner memory) + (edge feature): makes the message order visible."""

    def forward(self, msg: Tensor, state: Tensor) -> Tensor:
        # message layout: [s_self (1) | s_other (1) | phi (1) | e (1)]
        return state + msg[:, 1:2] + msg[:, 3:4]


def _trace_memory(aggregator: str = "last") -> NodeMemory:
    mem = NodeMemory(5, 1, 1, edge_dim=1, aggregator=aggregator, updater=AddUpdater())
    batches = [  # 10 events in 3 batches: (src, dst, t, e)
        [(0, 1, 1, 1.0), (1, 2, 2, 10.0), (0, 2, 3, 100.0)],
        [(0, 3, 4, 1000.0), (2, 1, 5, 2.0), (4, 0, 5, 3.0)],  # equal times are allowed
        [(1, 3, 6, 4.0), (0, 1, 7, 5.0), (2, 4, 8, 6.0), (3, 0, 9, 7.0)],
    ]
    for batch in batches:
        src, dst, t, e = (torch.tensor(c) for c in zip(*batch, strict=True))
        mem.update_state(src, dst, t, e.float().view(-1, 1))
    return mem


def test_memory_trace_hand_checked():
    mem = _trace_memory("last")
    # Batch 2 applies batch 1's last messages: s0 = 0+0+100, s1 = 0+0+10, s2 = 0+0+100.
    # Batch 3 applies batch 2's: s0 = 100+s4(0)+3, s1 = 10+s2(100)+2, s2 = 100+s1(10)+2,
    # s3 = 0+s0(100)+1000, s4 = 0+s0(100)+3.
    assert mem.memory.view(-1).tolist() == [103.0, 112.0, 112.0, 1100.0, 103.0]
    assert mem.last_update.tolist() == [5.0, 5.0, 5.0, 4.0, 5.0]
    # Pending (batch 3), last per node: partner memory *before* batch 3's events.
    assert mem.msg_count.tolist() == [2, 2, 1, 2, 1]
    assert mem.msg_time.tolist() == [9.0, 7.0, 8.0, 9.0, 8.0]
    assert mem.msg_other.view(-1).tolist() == [1100.0, 103.0, 103.0, 103.0, 112.0]
    assert mem.msg_feat.view(-1).tolist() == [7.0, 5.0, 6.0, 7.0, 6.0]
    # Reading applies the pending messages without writing them.
    out, last, pending = mem(torch.arange(5))
    assert out.view(-1).tolist() == [1210.0, 220.0, 221.0, 1210.0, 221.0]
    assert last.tolist() == [9.0, 7.0, 8.0, 9.0, 8.0]
    assert pending.all()
    assert mem.memory.view(-1).tolist() == [103.0, 112.0, 112.0, 1100.0, 103.0]


def test_memory_trace_mean_aggregator():
    mem = _trace_memory("mean")
    # Batch 2 applies means of batch 1: s0 = 0 + mean(0,0) + mean(1,100) = 50.5,
    # s1 = 5.5, s2 = 55; batch 3 means of batch 2: s0 = 50.5 + mean(0,0) + mean(1000,3),
    # s1 = 5.5 + 55 + 2, s2 = 55 + 5.5 + 2, s3 = 0 + 50.5 + 1000, s4 = 0 + 50.5 + 3.
    assert mem.memory.view(-1).tolist() == [552.0, 62.5, 62.5, 1050.5, 53.5]
    # node 1's pending messages of batch 3: partners s3 (1050.5) and s0 (552), e 4 and 5
    assert mem.msg_other[1].item() == pytest.approx((1050.5 + 552.0) / 2)
    assert mem.msg_feat[1].item() == pytest.approx(4.5)
    assert mem.msg_enc.shape == (5, 1)


def test_memory_bad_input():
    mem = NodeMemory(4, 2, 2, edge_dim=3)
    msg = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="sorted by time"):
        mem.update_state(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([5, 4]), msg)
    with pytest.raises(ValueError, match="outside"):
        mem.update_state(torch.tensor([0, 4]), torch.tensor([1, 2]), torch.tensor([1, 2]), msg)
    with pytest.raises(ValueError, match="message dimension mismatch"):
        mem.update_state(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([1, 2]),
                         torch.zeros(2, 4))
    with pytest.raises(ValueError, match="msg is required"):
        mem.update_state(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([1, 2]))
    mem.update_state(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([3, 3]), msg)
    # Equal timestamps across batches are allowed (as in PyG) ...
    mem.update_state(torch.tensor([1]), torch.tensor([2]), torch.tensor([3]), torch.zeros(1, 3))
    # ... but going back in time is not.
    with pytest.raises(ValueError, match="chronological order"):
        mem.update_state(torch.tensor([2]), torch.tensor([3]), torch.tensor([2]),
                         torch.zeros(1, 3))
    with pytest.raises(ValueError, match="aggregator"):
        NodeMemory(4, 2, 2, aggregator="max")


def test_neighbor_store_matches_naive():
    g = torch.Generator().manual_seed(0)
    n, k = 12, 3
    store = RecentNeighborStore(n, k, edge_dim=1)
    history: dict[int, list[tuple[int, int]]] = {i: [] for i in range(n)}
    e = 0
    for _ in range(6):
        b = 9
        src = torch.randint(n, (b,), generator=g)
        dst = torch.randint(n, (b,), generator=g)
        t = torch.arange(e, e + b)
        store.insert(src, dst, t, t.float().view(-1, 1), e_id=t)
        for s, d, i in zip(src.tolist(), dst.tolist(), t.tolist(), strict=True):
            history[s].append((d, i))
            history[d].append((s, i))
        e += b
    nbr, times, feats, mask = store(torch.arange(n))
    for i in range(n):
        expected = sorted(history[i][-k:], key=lambda x: x[1])
        got = sorted(zip(nbr[i][mask[i]].tolist(), times[i][mask[i]].long().tolist(), strict=True),
                     key=lambda x: x[1])
        assert got == expected
        assert torch.equal(feats[i][mask[i]].view(-1).long(), times[i][mask[i]].long())


def test_time_encoders():
    enc = TimeEncoder(4)
    assert enc.weight.tolist() == pytest.approx([1.0, 1e-3, 1e-6, 1e-9])
    assert torch.allclose(enc(torch.zeros(3)), torch.ones(3, 4))
    proj = TimeProjection(4, time_scale=2.0)
    with torch.no_grad():
        proj.weight.fill_(1.0)
    out = proj(torch.ones(1, 4), torch.tensor([2.0]))
    assert out.tolist() == [[2.0, 2.0, 2.0, 2.0]]
    assert "TimeEncoder(4" in repr(enc)


def _stream(num_events: int = 600):
    return temporal_sbm_stream(num_nodes=40, num_events=num_events, seed=1)


def _warm_model(preset: str = "tgn", **kw) -> tuple[TGN, object]:
    torch.manual_seed(0)
    data = _stream()
    model = TGN.from_preset(preset, data.num_nodes, data.msg.size(1), memory_dim=16,
                            time_dim=8, embedding_dim=16, **kw).eval()
    with torch.no_grad():
        for i in range(0, 400, 100):
            sl = slice(i, i + 100)
            _, _, ctx = model(data.src[sl], data.dst[sl], data.t[sl])
            model.update_state(data.src[sl], data.dst[sl], data.t[sl], data.msg[sl], ctx=ctx)
    return model, data


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("query_time,batch_nbrs", [("event", False), ("first", False),
                                                   ("event", True)])
def test_no_leakage_from_current_batch(preset, query_time, batch_nbrs):
    model, data = _warm_model(preset, query_time=query_time, batch_neighbors=batch_nbrs)
    sl = slice(400, 500)
    src, dst, t, msg = data.src[sl], data.dst[sl], data.t[sl], data.msg[sl]
    neg = torch.randint(data.num_nodes, (100,), generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        pos, negs, _ = model(src, dst, t, neg, msg=msg)
        # Scoring writes nothing.
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k]), k
        # The batch's own features and its later events cannot change event i's score.
        i = 40
        dst2, neg2 = dst.clone(), neg.clone()
        dst2[i + 1:] = torch.randint(data.num_nodes, (99 - i,))
        neg2[i + 1:] = torch.randint(data.num_nodes, (99 - i,))
        msg2 = msg.clone()
        msg2[i:] = 1e3  # the event's own features and later ones
        t2 = t.clone()
        t2[i + 1:] = t2[i + 1:] + 1  # later events even later
        pos2, negs2, _ = model(src, dst2, t2, neg2, msg=msg2)
        assert torch.allclose(pos2[: i + 1], pos[: i + 1])
        assert torch.allclose(negs2[: i + 1], negs[: i + 1])
        if query_time == "event" and not batch_nbrs:  # events are scored independently
            alone, _, _ = model(src[i:i + 1], dst[i:i + 1], t[i:i + 1])
            assert torch.allclose(alone, pos[i:i + 1], atol=1e-6)
    # The messages of the batch only enter memory through update_state.
    model.update_state(src, dst, t, msg * 1000)
    after_mem = model.memory.memory.clone()
    model.load_state_dict(before)
    model.update_state(src, dst, t, msg)
    assert torch.equal(after_mem, model.memory.memory)  # features wait in the store ...
    assert not torch.equal(model.memory.msg_feat, before["memory.msg_feat"])  # ... here


def test_batch_neighbors_strictly_older_events_only():
    model = TGN(6, 0, memory_dim=4, time_dim=2, embedding_dim=4, query_time="event",
                batch_neighbors=True)
    model.neighbors.insert(torch.tensor([0]), torch.tensor([5]), torch.tensor([0]))
    src, dst = torch.tensor([0, 0, 0, 0]), torch.tensor([1, 2, 3, 4])
    t = torch.tensor([1, 2, 2, 3])
    feat = torch.zeros(4, 0)
    nbr, nbr_t, _, mask = model._batch_neighbors(torch.tensor([0, 0, 0, 1]),
                                                 torch.tensor([1, 2, 3, 3]), (src, dst, t, feat))
    got = [sorted(nbr[q][mask[q]].tolist()) for q in range(4)]
    assert got == [[], [1], [1, 2, 3], [0]]


def test_state_dict_round_trip_with_pending_messages(tmp_path):
    model, data = _warm_model("tgn")
    assert int(model.memory.msg_count.sum()) > 0  # messages are pending
    path = tmp_path / "tgn.pt"
    torch.save(model.state_dict(), path)
    clone = TGN.from_preset("tgn", data.num_nodes, data.msg.size(1), memory_dim=16,
                            time_dim=8, embedding_dim=16).eval()
    clone.load_state_dict(torch.load(path))
    sl = slice(400, 500)
    with torch.no_grad():
        a = model(data.src[sl], data.dst[sl], data.t[sl], data.dst[sl].flip(0))
        b = clone(data.src[sl], data.dst[sl], data.t[sl], data.dst[sl].flip(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # backup/restore is exact too
    backup = model.state_backup()
    model.update_state(data.src[sl], data.dst[sl], data.t[sl], data.msg[sl], ctx=a[2])
    model.state_restore(backup)
    with torch.no_grad():
        c = model(data.src[sl], data.dst[sl], data.t[sl], data.dst[sl].flip(0))
    assert torch.equal(a[0], c[0])


def test_gradients_reach_memory_and_attention():
    model, data = _warm_model("tgn")
    model.train()
    sl = slice(400, 500)
    pos, neg, _ = model(data.src[sl], data.dst[sl], data.t[sl], data.dst[sl].flip(0))
    (pos.sum() - neg.sum()).backward()
    for name in ("memory.updater.weight_ih", "embed_module.lin_kv.weight", "time_enc.weight",
                 "decoder.lin1.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_neighbor_grad_switch_keeps_values():
    model, data = _warm_model("tgn")
    sl = slice(400, 500)
    out = model(data.src[sl], data.dst[sl], data.t[sl])[0]
    model.neighbor_grad = False
    out2 = model(data.src[sl], data.dst[sl], data.t[sl])[0]
    assert torch.allclose(out, out2, atol=1e-6)


def test_destination_sampler_replays_after_reset():
    # TGN's RandEdgeSampler: uniform over the phase's destinations, the same draws after reset
    data = _stream(300)
    mask = torch.zeros(data.num_events, dtype=torch.bool)
    mask[:200] = True
    stream = EventStream(data, mask)
    sampler = destination_sampler(stream, seed=0)
    a = sampler.sample(stream.src, stream.dst, stream.t)
    assert torch.isin(a, torch.unique(stream.dst)).all()
    assert torch.unique(a).numel() > 1
    sampler.reset()
    assert torch.equal(sampler.sample(stream.src, stream.dst, stream.t), a)
    state = sampler.state_dict()
    b = sampler.sample(stream.src, stream.dst, stream.t)
    sampler.load_state_dict(state)
    assert torch.equal(sampler.sample(stream.src, stream.dst, stream.t), b)


def _run(method, data, cfg, seed=0, **kw):
    from graphcl.methods import get_method
    from graphcl.runner import run_seed

    m = get_method(method)
    return run_seed(m, data, m.configure({}, ("sbm",), cfg), seed, progress=False, **kw)


def test_protocol_end_to_end(tmp_path):
    from graphcl.runner import run_experiment

    data = _stream(2000)
    cfg = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "epochs": 4,
           "batch_size": 100, "eval_batch_size": 100, "mrr_num_neg": 10, "lr": 3e-3}
    out = _run("tgn", data, cfg)["metrics"]
    for key in ("valid_ap", "test_ap", "test_auc", "test_mrr", "test_ind_ap", "valid_ind_ap",
                "test_ind_mrr"):
        assert 0.0 <= out[key] <= 1.0, key
    assert out["test_ap"] > 0.6  # the stream has community structure to learn
    cfg_file = tmp_path / "tgn.yaml"
    cfg_file.write_text("defaults: {memory_dim: 16, time_dim: 8, embedding_dim: 16, epochs: 4}\n"
                        "datasets: {sbm: {epochs: 1}}\n")
    res = run_experiment("tgn", "sbm", config=cfg_file, progress=False,
                         data=("sbm", data, ("sbm",)))
    assert res["stats"]["epochs"]["values"] == [1.0]  # the dataset section overrides defaults
    from graphcl.methods import ConfigError

    with pytest.raises(ConfigError, match="unknown config key"):
        _run("tgn", data, {"batchsize": 3})


class _KillInEpoch(Plugin):
    def __init__(self, epoch):
        self.epoch, self.seen = epoch, 0

    def before_training_epoch(self, strategy, **kw):
        self.seen = 0

    def after_training_iteration(self, strategy, **kw):
        self.seen += 1
        if strategy.epoch == self.epoch - 1 and self.seen == 3:  # mid-epoch
            raise KeyboardInterrupt("simulated kill")


def test_killed_run_resumes_exactly(tmp_path):
    # a run killed in epoch 3 resumes from its per-epoch state (weights, optimiser, memory, PRES
    # parameters and statistics, sampler and RNG states) and ends with the uninterrupted
    # run's metrics
    from graphcl.train.engine import ResumeError

    data = _stream(1200)
    cfg = {"memory_dim": 8, "time_dim": 4, "embedding_dim": 8, "epochs": 3, "patience": 5,
           "batch_size": 100, "eval_batch_size": 100, "mrr_num_neg": 5, "lr": 3e-3,
           "query_time": "event", "batch_neighbors": True,
           "pres": {"gamma": 0.5, "scope": "intra", "min_history": 1, "learnable_gamma": True}}
    full = _run("pres", data, cfg, seed=3)
    assert len(full["curve"]) == 3 and "pres_gamma" in full["stats"]
    state = tmp_path / "run.state.pt"
    fp = {"run": "a"}
    with pytest.raises(KeyboardInterrupt):
        _run("pres", data, cfg, seed=3, state_path=state, fingerprint=fp,
             plugins=[_KillInEpoch(3)])
    assert state.exists()
    resumed = _run("pres", data, cfg, seed=3, state_path=state, fingerprint=fp)
    assert resumed["metrics"] == full["metrics"] and resumed["curve"] == full["curve"]
    assert resumed["stats"]["pres_gamma"] == full["stats"]["pres_gamma"]

    # a finished run continues when the epoch cap is raised, as if it had been run in one go
    longer = _run("pres", data, {**cfg, "epochs": 4}, seed=3)
    extended = _run("pres", data, {**cfg, "epochs": 4}, seed=3, state_path=state,
                    fingerprint=fp)
    assert extended["metrics"] == longer["metrics"] and extended["curve"] == longer["curve"]

    with pytest.raises(ResumeError, match="run differ"):
        _run("pres", data, cfg, seed=3, state_path=state, fingerprint={"run": "b"})
    with pytest.raises(ResumeError, match="beyond max_epochs 2"):
        _run("pres", data, {**cfg, "epochs": 2}, seed=3, state_path=state, fingerprint=fp)


@pytest.mark.parametrize("preset", ["jodie", "apan"])
def test_presets_under_the_protocol(preset):
    data = _stream(800)
    cfg = {"preset": preset, "memory_dim": 8, "time_dim": 4, "epochs": 1, "batch_size": 100,
           "mrr_num_neg": 5, "lr": 1e-3}
    out = _run("tgn", data, cfg)["metrics"]
    assert 0.0 <= out["test_ap"] <= 1.0 and 0.0 <= out["test_mrr"] <= 1.0
