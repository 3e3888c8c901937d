r"""Continual learning: streams cut from a graph, the metric matrix's summaries, replay
buffers, every strategy on a tiny stream, exact resume of a stream with its buffer, and the
class-incremental stream on real Cora."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from graphcl.cli import main as cli_main
from graphcl.data.streams import class_groups, parse_stream_spec, time_windows
from graphcl.evaluate import continual as C
from graphcl.evaluate.plot import metric_matrix_svg
from graphcl.lifelong import build_plugin
from graphcl.lifelong.ewc import EWC
from graphcl.lifelong.lwf import LwF
from graphcl.lifelong.replay import (
    ExperienceBalancedBuffer,
    ReplayPlugin,
    ReservoirSamplingBuffer,
)
from graphcl.train.continual import build_stream, node_class_stream
from graphcl.train.engine import Engine
from graphcl.train.plugins import Plugin
from graphcl.train.seed import seed_everything
from graphcl.train.tasks import NodeClassificationTask

# --- metrics against hand-made matrices ------------------------------------------------------
R = torch.tensor([[0.9, 0.1, 0.2],
                  [0.6, 0.8, 0.1],
                  [0.5, 0.7, 0.9]], dtype=torch.float64)


def test_metrics_by_hand():
    assert C.average_accuracy(R) == pytest.approx(0.7)
    # forgetting: j=0 best of rows 0,1 = 0.9 -> 0.5; j=1 best of row 1 = 0.8 -> 0.7
    assert C.average_forgetting(R) == pytest.approx((0.4 + 0.1) / 2)
    assert C.backward_transfer(R) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert C.forward_transfer(R, [0.3, 0.2, 0.25]) == pytest.approx(((0.1 - 0.2) + (0.1 - 0.25)) / 2)
    one = torch.tensor([[0.7]])
    assert C.average_forgetting(one) == 0.0 and C.backward_transfer(one) == 0.0


def test_forgetting_ignores_rows_before_a_task_was_learnt():
    # task 1 scores 0.95 by chance before it is learnt (row 0): not forgetting
    M = torch.tensor([[0.9, 0.95, 0.0], [0.9, 0.6, 0.0], [0.9, 0.6, 0.8]])
    assert C.average_forgetting(M) == pytest.approx(0.0)


def test_relapse_and_retained_drop_by_hand():
    # task 0 unlearned in experience 2: 0.9 -> 0.2, then 0.35 and 0.3 while tasks 3, 4 train
    M = torch.tensor([[0.9, 0.0, 0.0, 0.0, 0.0],
                      [0.88, 0.8, 0.0, 0.0, 0.0],
                      [0.2, 0.78, 0.0, 0.0, 0.0],
                      [0.35, 0.7, 0.0, 0.9, 0.0],
                      [0.3, 0.65, 0.0, 0.8, 0.85]], dtype=torch.float64)
    assert C.task_relapse(M, task=0, unlearned_at=2) == pytest.approx(0.15)
    assert C.task_relapse(M, task=1, unlearned_at=4) == 0.0
    assert C.retained_drop(M, [1], before=1, after=2) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="outside"):
        C.task_relapse(M, task=5, unlearned_at=2)


def test_continual_metrics_from_engine_rows_and_bad_matrices():
    rows = [[{"test_acc": float(v)} for v in r] for r in R.tolist()]
    out = C.continual_metrics(rows, "test_acc", [{"test_acc": 0.3}, {"test_acc": 0.2},
                                                 {"test_acc": 0.25}])
    assert out["avg_acc"] == pytest.approx(0.7) and out["fwt"] == pytest.approx(-0.125)
    assert out["final_exp2_acc"] == pytest.approx(0.9)
    with pytest.raises(KeyError, match="test_ap"):
        C.continual_metrics(rows, "test_ap")
    with pytest.raises(ValueError, match="square"):
        C.average_accuracy(torch.zeros(2, 3))


def test_metric_matrix_svg(tmp_path):
    path = metric_matrix_svg(R * 100, tmp_path / "m.svg", title="t")
    text = path.read_text()
    assert text.count("<rect") == 1 + 9 and "90.0" in text and "after 2" in text


# --- stream specs and cuts ---------------------------------------------------------------------
def test_stream_specs():
    s = parse_stream_spec("class-incremental:4")
    assert (s.kind, s.tasks, s.inter_task_edges, s.cumulative) == ("class-incremental", 4, True,
                                                                    False)
    s = parse_stream_spec("task-incremental:0-1/2-3/4, inter_task_edges=false,cumulative=yes")
    assert s.tasks == ((0, 1), (2, 3), (4,)) and not s.inter_task_edges and s.cumulative
    for bad, msg in [("domain:3", "unknown kind"), ("class-incremental", "TASKS"),
                     ("class-incremental:0", "at least one"), ("class-incremental:a-b", "0-1"),
                     ("class-incremental:2,foo=1", "unknown option"),
                     ("class-incremental:2,cumulative=maybe", "true or false"),
                     ("time-window:0-1", "number of windows")]:
        with pytest.raises(ValueError, match=msg):
            parse_stream_spec(bad)


def test_class_groups():
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6])
    assert class_groups(y, 4) == [[0, 1], [2, 3], [4, 5], [6]]
    assert class_groups(y, 5) == [[0, 1], [2, 3], [4], [5], [6]]
    assert class_groups(y, [[6, 0], [3]]) == [[6, 0], [3]]
    with pytest.raises(ValueError, match="only 7 classes"):
        class_groups(y, 8)
    with pytest.raises(ValueError, match="disjoint"):
        class_groups(y, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="no classes"):
        class_groups(y, [[0], []])
    with pytest.raises(ValueError, match=r"classes \[9\]"):
        class_groups(y, [[0], [9]])


def test_time_windows_keep_ties_together():
    t = torch.tensor([1, 2, 3, 3, 3, 4, 5, 6, 7, 8])
    assert time_windows(t, 2) == [(0, 5), (5, 10)]
    assert time_windows(t, 3) == [(0, 2), (2, 7), (7, 10)]
    with pytest.raises(ValueError, match="sorted"):
        time_windows(torch.tensor([2, 1]), 2)
    with pytest.raises(ValueError, match="empty"):
        time_windows(torch.tensor([1, 1, 1, 1]), 2)


def hand_graph() -> Data:
    # nodes 0-5, classes 0,0,1,1,2,2; edges 0-1, 1-2, 2-3, 3-4, 4-5, 0-5 (both directions)
    pairs = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5]]).t()
    ei = torch.cat([pairs, pairs.flip(0)], 1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    train = torch.tensor([True, False, True, False, True, False])
    return Data(x=torch.eye(6), edge_index=ei, y=y, train_mask=train, val_mask=~train,
                test_mask=~train)


def _edges(exp) -> set[tuple[int, int]]:
    nodes = exp.nodes.tolist()
    return {(nodes[a], nodes[b]) for a, b in exp.edge_index.t().tolist()}


def test_node_stream_by_hand():
    data = hand_graph()
    s = node_class_stream(data, "class-incremental:3")
    assert [e.classes for e in s] == [[0], [1], [2]]
    assert [e.nodes.tolist() for e in s] == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert _edges(s[1]) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}
    assert s[1].train_mask.tolist() == [False, False, True, False]  # only its own classes
    s = node_class_stream(data, "class-incremental:3,inter_task_edges=false")
    assert [e.nodes.tolist() for e in s] == [[0, 1], [2, 3], [4, 5]]
    assert _edges(s[2]) == {(4, 5), (5, 4)}
    s = node_class_stream(data, "class-incremental:3,cumulative=true")
    assert s[2].classes == [2] and s[2].train_mask.tolist() == [True, False] * 3
    assert s[2].test_mask.tolist() == [False] * 5 + [True]


class _At:
    def __init__(self, k: int) -> None:
        self.experience_index = k


def test_active_classes_and_targets():
    data = hand_graph()
    cls = node_class_stream(data, "class-incremental:3")
    assert cls[0].active_classes(_At(2)).tolist() == [0, 1, 2]
    assert cls[2].active_classes(_At(0)).tolist() == [0, 1, 2]  # at least its own
    task = node_class_stream(data, "task-incremental:3")
    assert task[1].active_classes(_At(2)).tolist() == [0, 1, 2]  # what distillation keeps
    # class-IL loss on experience 1 after 1: columns of classes 0 and 1, target index 1
    logits = torch.tensor([[0.0, 2.0, 5.0]])
    model = lambda x, ei: logits.expand(x.size(0), 3)  # noqa: E731
    strat = _At(1)
    strat.model = model
    batch = torch.tensor([2])  # node 2 of experience 1's graph is original node 2, class 1
    expect = F.cross_entropy(torch.tensor([[0.0, 2.0]]), torch.tensor([1]))
    assert torch.allclose(cls[1].training_loss(strat, batch), expect)
    # task-incremental: each node only sees its own task's classes (one here): loss 0, acc 1
    assert float(task[1].training_loss(strat, batch)) == 0.0
    assert task[1].evaluate(_with(_At(3), model), "test")["acc"] == 1.0
    # its test node 3 (class 1): class 2 scores highest but is not active until experience 2
    assert cls[1].evaluate(strat, "test")["acc"] == 1.0
    assert cls[1].evaluate(_with(_At(2), model), "test")["acc"] == 0.0
    assert cls[1].evaluate(_with(_At(1), lambda x, ei: torch.tensor([[3.0, 0.0, 9.0]]).expand(
        x.size(0), 3)), "test")["acc"] == 0.0


def _with(strat, model):
    strat.model = model
    return strat


def test_streams_refuse_empty_experiences_and_other_tasks():
    data = hand_graph()
    data.train_mask = torch.tensor([True, True, False, False, True, True])
    with pytest.raises(ValueError, match="experience 1 .* no training nodes"):
        node_class_stream(data, "class-incremental:3")
    with pytest.raises(ValueError, match="class- or task-incremental"):
        node_class_stream(hand_graph(), "time-window:2")
    with pytest.raises(ValueError, match="cannot form"):
        build_stream(object(), "class-incremental:2")


# --- buffers -----------------------------------------------------------------------------------
def _algorithm_r(items: list[int], size: int, draws: list[float]) -> list[int]:
    buf: list[int] = []
    for m, (item, u) in enumerate(zip(items, draws, strict=True)):
        if m < size:
            buf.append(item)
        else:
            j = int(u * (m + 1))
            if j < size:
                buf[j] = item
    return buf


def test_reservoir_matches_one_item_at_a_time():
    buf = ReservoirSamplingBuffer(5, seed=3)
    ref_gen = torch.Generator().manual_seed(3)
    draws = torch.cat([torch.rand(7, generator=ref_gen, dtype=torch.float64),
                       torch.rand(30, generator=ref_gen, dtype=torch.float64)]).tolist()
    buf.update(torch.arange(7), 0)
    buf.update(torch.arange(100, 130), 1)
    expect = _algorithm_r(list(range(7)) + list(range(100, 130)), 5, draws)
    assert buf.items.tolist() == expect
    assert buf.experiences.tolist() == [0 if v < 100 else 1 for v in expect]
    assert buf.seen == 37


def test_reservoir_is_uniform_and_round_trips():
    counts = torch.zeros(40)
    for seed in range(300):
        b = ReservoirSamplingBuffer(10, seed=seed)
        b.update(torch.arange(15), 0)
        b.update(torch.arange(15, 40), 1)
        counts[b.items] += 1
    # each of 40 items kept with probability 1/4: 75 of 300, sd ~7.5
    assert counts.min() > 45 and counts.max() < 105
    a = ReservoirSamplingBuffer(4, seed=1)
    a.update(torch.arange(10).view(5, 2), 0)  # rows: edges
    b = ReservoirSamplingBuffer(4, seed=99)
    b.load_state_dict(a.state_dict())
    a.update(torch.arange(50, 60).view(5, 2), 1)
    b.update(torch.arange(50, 60).view(5, 2), 1)
    assert torch.equal(a.items, b.items) and a.items.shape == (4, 2)
    with pytest.raises(ValueError, match=">= 0"):
        ReservoirSamplingBuffer(-1)


def test_experience_balanced_buffer_shares():
    b = ExperienceBalancedBuffer(7, seed=0)
    b.update(torch.arange(20), 0)
    assert len(b) == 7 and set(b.items.tolist()) <= set(range(20))
    b.update(torch.arange(100, 103), 1)
    b.update(torch.arange(200, 220), 2)
    assert b.experiences.tolist().count(0) == 3  # 7 // 3 = 2, remainder to the first
    assert b.experiences.tolist().count(1) == 2 and b.experiences.tolist().count(2) == 2
    first = set(b.items[b.experiences == 0].tolist())
    assert first <= set(range(20))


# --- every strategy on a tiny stream ------------------------------------------------------------
class GCN(torch.nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(cin, hidden), GCNConv(hidden, cout)

    def forward(self, x, edge_index):
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


def tiny_data(seed: int = 0) -> Data:
    from graphcl.data.synthetic import attributed_sbm

    data = attributed_sbm(120, 4, 0.15, 0.01, 8, seed=seed, feature_noise=0.7)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(120, generator=g)
    masks = [torch.zeros(120, dtype=torch.bool) for _ in range(3)]
    masks[0][idx[:60]], masks[1][idx[60:90]], masks[2][idx[90:]] = True, True, True
    data.train_mask, data.val_mask, data.test_mask = masks
    return data


def _outcome(res):
    r"""A stream's result without its timings."""
    return {"matrix": res["matrix"], "initial": res.get("initial"),
            "experiences": [{k: v for k, v in e.items() if k != "stats"}
                            for e in res["experiences"]]}


def run_stream(plugins, spec="class-incremental:2", ckpt=None, epochs=15):
    seed_everything(0)
    data = tiny_data()
    model = GCN(8, 16, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    eng = Engine(model, opt, plugins=plugins, max_epochs=epochs, monitor="valid_acc",
                 checkpoint=ckpt, seed=1, progress=False)
    return eng, eng.fit_stream(build_stream(NodeClassificationTask(data), spec), initial=True)


@pytest.mark.parametrize("plugins", [
    lambda: [ReplayPlugin(mem_size=10)],
    lambda: [ReplayPlugin(mem_size=10, storage_policy="reservoir", batch_size_mem=4)],
    lambda: [EWC(ewc_lambda=100.0)],
    lambda: [EWC(ewc_lambda=100.0, fisher_batch_size=1)],
    lambda: [LwF(alpha=1.0)],
])
def test_every_strategy_runs_and_acts(plugins):
    ref, _ = run_stream([])
    eng, res = run_stream(plugins())
    assert len(res["matrix"]) == 2 and len(res["initial"]) == 2
    w, w_ref = eng.model.conv2.lin.weight, ref.model.conv2.lin.weight
    assert not torch.allclose(w, w_ref)  # the strategy changed the training
    p = eng.plugins[0]
    assert (getattr(p, "last_memory_loss", 0) or getattr(p, "last_penalty", 0)) > 0


def test_noop_plugin_leaves_the_stream_unchanged():
    _, a = run_stream([])
    _, b = run_stream([Plugin()])
    assert _outcome(a) == _outcome(b)


def test_replay_reduces_forgetting_on_the_tiny_stream():
    _, naive = run_stream([], epochs=30)
    _, replay = run_stream([ReplayPlugin(mem_size=30)], epochs=30)
    f = [C.average_forgetting(C.metric_matrix(r["matrix"], "test_acc")) for r in (naive, replay)]
    assert f[1] < f[0] - 0.2


def test_cumulative_stream_trains_on_everything_seen():
    _, res = run_stream([], spec="class-incremental:2,cumulative=true", epochs=30)
    M = C.metric_matrix(res["matrix"], "test_acc")
    assert C.average_forgetting(M) < 0.15


class KillAt(Plugin):
    def __init__(self, experience: int, epoch: int) -> None:
        self.at = (experience, epoch)

    def after_training_epoch(self, strategy, **kw):
        if (strategy.experience_index, strategy.epoch + 1) == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("make", [lambda: ReplayPlugin(mem_size=12, storage_policy="reservoir"),
                                  lambda: LwF(alpha=2.0)])
def test_killed_stream_resumes_with_its_buffer(tmp_path, make):
    _, ref = run_stream([make()], spec="class-incremental:3,inter_task_edges=false")
    ckpt = tmp_path / "s.ckpt"
    with pytest.raises(KeyboardInterrupt):
        run_stream([make(), KillAt(2, 5)], spec="class-incremental:3,inter_task_edges=false",
                   ckpt=ckpt)
    eng, res = run_stream([make()], spec="class-incremental:3,inter_task_edges=false", ckpt=ckpt)
    assert _outcome(res) == _outcome(ref)


def test_bad_plugin_options():
    with pytest.raises(ValueError, match=">= 0"):
        build_plugin("replay:mem_size=-1")
    with pytest.raises(ValueError, match="storage_policy"):
        build_plugin("replay:storage_policy=fifo")
    with pytest.raises(ValueError, match="temperature"):
        build_plugin("lwf:temperature=0")


# --- the command line, and real data ------------------------------------------------------------
def test_cli_stream_with_replay(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli_main(["run", "gnn", "--dataset", "synthetic:sbm", "--stream", "class-incremental:2",
                   "--plugin", "replay:mem_size=50", "--set", "epochs=5", "--no-progress",
                   "--out", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert {"avg_acc", "forgetting", "bwt", "fwt"} <= set(res["metrics"])
    assert res["stream"] == "class-incremental:2" and len(res["streams"]["0"]["matrix"]) == 2
    rc = cli_main(["run", "gnn", "--dataset", "synthetic:sbm", "--stream", "class-incremental:9",
                   "--set", "epochs=5", "--no-progress"])
    assert rc == 2 and "only 5 classes" in capsys.readouterr().err
    rc = cli_main(["run", "gae", "--dataset", "synthetic:sbm", "--stream", "class-incremental:2",
                   "--set", "epochs=1", "--no-progress"])
    assert rc == 2 and "cannot form" in capsys.readouterr().err


def test_cora_class_incremental_replay_beats_naive(data_root, monkeypatch):
    from graphcl.runner import run_experiment

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    common = dict(seeds=[0], overrides={"split": "random", "epochs": 40, "patience": None},
                  stream="class-incremental:4", progress=False)
    naive = run_experiment("gnn", "cora", **common)["metrics"]
    replay = run_experiment("gnn", "cora", plugins=["replay:mem_size=200"], **common)["metrics"]
    assert naive["forgetting"]["mean"] > 0.6  # class-incremental fine-tuning forgets
    assert replay["forgetting"]["mean"] < naive["forgetting"]["mean"] - 0.2
    assert replay["avg_acc"]["mean"] > naive["avg_acc"]["mean"] + 0.15


# --- time windows of an event stream (memory models) -------------------------------------------
def _tgn_setup(method="tgn"):
    from graphcl.data.synthetic import temporal_sbm_stream
    from graphcl.methods import get_method

    data = temporal_sbm_stream(60, 900, 3, seed=1, msg_dim=4)
    m = get_method(method)
    cfg = m.configure({}, (), {"epochs": 2, "batch_size": 50, "memory_dim": 16,
                               "embedding_dim": 16, "time_dim": 8})
    seed_everything(0)
    return m.build(data, cfg, 0)


def window_run(plugins, spec="time-window:3", ckpt=None):
    setup = _tgn_setup()
    stream = build_stream(setup.task, spec)
    eng = Engine(setup.model, setup.optimizer, plugins=plugins, checkpoint=ckpt, seed=3,
                 progress=False, **setup.engine)
    return eng, stream, eng.fit_stream(stream, initial=True)


def test_time_window_stream_carries_the_memory():
    eng, stream, res = window_run([])
    assert [e.task_label for e in stream] == [0, 1, 2]
    assert stream[0].bounds == time_windows(stream[0].data.t, 3)
    M = C.metric_matrix(res["matrix"], "test_ap")
    assert M.shape == (3, 3) and bool(torch.isfinite(M).all())
    entries = stream[0].entries
    assert sorted(entries) == [0, 1, 2]
    tgn = eng.model["tgn"]
    # window 0 starts from an empty memory, window 2 from the nodes seen in windows 0 and 1
    assert float(entries[0]["model"]["memory"]["last_update"].abs().sum()) == 0
    seen = torch.unique(torch.cat([stream[0].data.src[: stream[2].bounds[2][0]],
                                   stream[0].data.dst[: stream[2].bounds[2][0]]]))
    touched = (entries[2]["model"]["memory"]["last_update"] > 0).nonzero().view(-1)
    assert set(touched.tolist()) <= set(seen.tolist()) and touched.numel() > 0
    # evaluating an experience leaves the model's memory as it was
    before = tgn.state_backup()
    stream[1].evaluate(eng, "test")
    after = tgn.state_backup()
    assert all(torch.equal(before["memory"][k], after["memory"][k]) for k in before["memory"])


def test_nat_trains_on_time_windows_with_replay():
    # the window stream and event replay reach NAT through the same temporal task
    from graphcl.data.synthetic import temporal_sbm_stream
    from graphcl.methods import get_method

    data = temporal_sbm_stream(60, 900, 3, seed=1)
    m = get_method("nat")
    cfg = m.configure({}, (), {"epochs": 1, "batch_size": 50, "n_degree": [8, 4],
                               "mrr_num_neg": 0})
    seed_everything(0)
    setup = m.build(data, cfg, 0)
    stream = build_stream(setup.task, "time-window:3")
    eng = Engine(setup.model, setup.optimizer, plugins=[ReplayPlugin(mem_size=60)], seed=3,
                 progress=False, **setup.engine)
    res = eng.fit_stream(stream, initial=True)
    M = C.metric_matrix(res["matrix"], "test_ap")
    assert M.shape == (3, 3) and bool(torch.isfinite(M).all()) and float(M[-1].mean()) > 0.5
    assert eng.plugins[0].last_memory_loss > 0
    assert sorted(stream[0].entries) == [0, 1, 2]


def test_time_window_replay_and_resume(tmp_path):
    _, _, ref = window_run([ReplayPlugin(mem_size=100, batch_size_mem=25)])
    ckpt = tmp_path / "w.ckpt"
    with pytest.raises(KeyboardInterrupt):
        window_run([ReplayPlugin(mem_size=100, batch_size_mem=25), KillAt(1, 1)], ckpt=ckpt)
    eng, _, res = window_run([ReplayPlugin(mem_size=100, batch_size_mem=25)], ckpt=ckpt)
    assert _outcome(res) == _outcome(ref)
    assert eng.plugins[0].last_memory_loss > 0


# --- weights computed per task: supermask, hypernetwork, task unlearning -------------------------
def test_parameter_override_reads_computed_weights_and_keeps_the_model():
    from graphcl.lifelong.weights import ParameterOverride

    model = GCN(3, 4, 2)
    keys = list(model.state_dict())
    x, ei = torch.randn(5, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
    base = model(x, ei)
    ov = ParameterOverride(model, ["conv2.lin.weight", "conv2.bias"],
                           lambda n, p: torch.zeros_like(p))
    assert torch.equal(model(x, ei), torch.zeros(5, 2))
    assert list(model.state_dict()) == keys  # nothing renamed
    ov.active = False
    assert torch.allclose(model(x, ei), base)
    ov.remove()
    with pytest.raises(KeyError, match="no parameters"):
        ParameterOverride(model, ["conv9.weight"], lambda n, p: p)


def test_topk_mask():
    from graphcl.lifelong.supermask import topk_mask

    s = torch.tensor([[0.1, 0.9, -1.0], [0.5, 0.2, 0.3]])
    assert topk_mask(s, 0.5).tolist() == [[False, True, False], [True, False, True]]
    assert int(topk_mask(s, 0.01).sum()) == 1


def task_stream(plugins, spec="task-incremental:2", epochs=20, ckpt=None):
    return run_stream(plugins, spec=spec, ckpt=ckpt, epochs=epochs)


def test_supermask_keeps_finished_tasks_exactly():
    from graphcl.lifelong.supermask import SupermaskPlugin

    eng, res = task_stream([SupermaskPlugin(sparsity=0.5)])
    M = C.metric_matrix(res["matrix"], "test_acc")
    assert float(M[1, 0]) == float(M[0, 0])  # task 0's subnetwork and weights are untouched
    sm = eng.plugins[0]
    assert sorted(sm.masks) == [0, 1]
    for n in sm.names:
        m0 = sm.masks[0][n]
        assert abs(m0.float().mean().item() - 0.5) < 0.01
        assert torch.equal(sm.frozen[n], m0 | sm.masks[1][n])
    with pytest.raises(ValueError, match="task-incremental"):
        task_stream([SupermaskPlugin()], spec="class-incremental:2")


def test_hypernetwork_holds_old_tasks_and_unlearns_without_data():
    from graphcl.lifelong.hypernetwork import HypernetworkPlugin

    spec = "task-incremental:0-1/2-3,unlearn=0@1,unlearn_epochs=30"
    eng, res = task_stream([HypernetworkPlugin(lr=0.01, chunk_size=512)], spec=spec, epochs=30)
    M = C.metric_matrix(res["matrix"], "test_acc")
    assert M.shape == (3, 3) and float(M[0, 0]) > 0.9
    assert float(M[1, 0]) >= float(M[0, 0]) - 0.05  # held while task 1 trains
    assert float(M[2, 0]) < float(M[1, 0]) - 0.3  # forgotten, data-free
    assert float(M[2, 1]) >= float(M[1, 1]) - 0.05  # task 1 kept
    hp = eng.plugins[0]
    assert hp.unlearned == [0] and sorted(hp.targets) == [1]
    assert res["experiences"][2]["epochs"] == 30


def test_unlearning_in_a_stream_without_a_data_free_plugin_is_gradient_ascent():
    spec = "task-incremental:0-1/2-3,unlearn=1@1,unlearn_epochs=5"
    eng, res = task_stream([ReplayPlugin(mem_size=20)], spec=spec)
    M = C.metric_matrix(res["matrix"], "test_acc")
    assert float(M[2, 1]) < float(M[1, 1])  # task 1 pushed away
    buf = eng.plugins[0].buffer
    assert set(buf.experiences.tolist()) == {0}  # its examples left the buffer
    out = C.continual_metrics(res["matrix"], "test_acc", res["initial"], (2, 1))
    assert out["forgotten_acc_after"] == float(M[2, 1]) and "relapse" in out


def test_unlearning_stream_specs_refuse_unlearnt_tasks():
    with pytest.raises(ValueError, match="never learned"):
        parse_stream_spec("task-incremental:3,unlearn=2@1")
    with pytest.raises(ValueError, match="TASK@AFTER"):
        parse_stream_spec("task-incremental:3,unlearn=2")
    with pytest.raises(ValueError, match="has 2 experiences"):
        build_stream(NodeClassificationTask(tiny_data()), "task-incremental:2,unlearn=0@3")


def test_hypernetwork_stream_resumes_exactly(tmp_path):
    from graphcl.lifelong.hypernetwork import HypernetworkPlugin

    spec = "task-incremental:2,unlearn=0@1,unlearn_epochs=4"
    make = lambda: HypernetworkPlugin(lr=0.01, chunk_size=512)  # noqa: E731
    _, ref = task_stream([make()], spec=spec, epochs=6)
    ckpt = tmp_path / "h.ckpt"
    with pytest.raises(KeyboardInterrupt):
        task_stream([make(), KillAt(2, 2)], spec=spec, epochs=6, ckpt=ckpt)
    _, res = task_stream([make()], spec=spec, epochs=6, ckpt=ckpt)
    assert _outcome(res) == _outcome(ref)


def test_runner_finds_the_unlearning_experience():
    from graphcl.runner import _unlearning_position

    stream = build_stream(NodeClassificationTask(tiny_data()), "task-incremental:3,unlearn=1@2")
    assert [type(e).__name__ for e in stream] == ["NodeExperience"] * 3 + ["TaskUnlearnExperience"]
    assert _unlearning_position(stream) == (3, 1)
    assert _unlearning_position(stream[:3]) is None
