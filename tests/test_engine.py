import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from graphcl.train.checkpoint import load_checkpoint, save_checkpoint, write_json_atomic
from graphcl.train.engine import Engine
from graphcl.train.plugins import EVAL_HOOKS, HOOKS, TRAINING_HOOKS, Plugin
from graphcl.train.seed import seed_everything
from graphcl.train.tasks import NodeClassificationTask


class GCN(torch.nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(cin, hidden), GCNConv(hidden, cout)

    def forward(self, x, edge_index):
        x = F.dropout(F.relu(self.conv1(x, edge_index)), 0.5, self.training)
        return self.conv2(x, edge_index)


def toy_graph(seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    n, c = 60, 3
    y = torch.arange(n) % c
    x = F.one_hot(y, c).float() + 0.8 * torch.randn(n, c, generator=g)
    src = torch.randint(0, n, (300,), generator=g)
    dst = torch.randint(0, n, (300,), generator=g)
    keep = (y[src] == y[dst]) | (torch.rand(300, generator=g) < 0.2)
    ei = torch.stack([src[keep], dst[keep]])
    ei = torch.cat([ei, ei.flip(0)], 1)
    idx = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][idx[:30]], masks[1][idx[30:45]], masks[2][idx[45:]] = True, True, True
    return Data(x=x, edge_index=ei, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


def make_engine(plugins=(), epochs=8, ckpt=None, **kw):
    seed_everything(0)
    model = GCN(3, 16, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    return Engine(model, opt, plugins=plugins, max_epochs=epochs, monitor="valid_acc",
                  checkpoint=ckpt, seed=1, progress=False, **kw)


class Recorder(Plugin):
    def __init__(self) -> None:
        self.calls: list[str] = []


for _h in HOOKS:
    setattr(Recorder, _h, (lambda name: lambda self, strategy, **kw: self.calls.append(name))(_h))


def test_hook_order_and_noop_plugin_changes_nothing():
    data = toy_graph()
    rec = Recorder()
    res_plain = make_engine().fit(NodeClassificationTask(data))
    res_plug = make_engine(plugins=[rec, Plugin()]).fit(NodeClassificationTask(data))
    assert res_plain["metrics"] == res_plug["metrics"]
    assert res_plain["history"] == res_plug["history"]
    calls = rec.calls
    assert calls[:4] == ["before_training", "before_training_exp", "before_training_epoch",
                         "before_training_iteration"]
    it = calls.index("before_training_iteration")
    assert calls[it:it + 9] == ["before_training_iteration", "before_forward", "after_forward",
                                "before_backward", "after_backward", "before_update",
                                "after_update", "after_training_iteration",
                                "after_training_epoch"]
    assert calls[-2:] == ["after_training_exp", "after_training"]
    assert calls.count("before_training_epoch") == 8
    assert calls.count("before_eval_exp") == 16  # valid + test each epoch
    assert set(calls) == set(TRAINING_HOOKS) | set(EVAL_HOOKS)  # no unlearning request here
    assert len(TRAINING_HOOKS) == 14


def test_plugin_can_change_loss():
    class Penalty(Plugin):
        def before_backward(self, strategy, **kw):
            w = next(strategy.model.parameters())
            strategy.loss = strategy.loss + 10.0 * w.pow(2).sum()

    data = toy_graph()
    a = make_engine(epochs=3).fit(NodeClassificationTask(data))
    b = make_engine(plugins=[Penalty()], epochs=3).fit(NodeClassificationTask(data))
    assert a["history"] != b["history"]


class Kill(Plugin):
    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def after_training_iteration(self, strategy, **kw):
        if strategy.epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    data = toy_graph()
    full = make_engine(epochs=10).fit(NodeClassificationTask(data))
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        make_engine(plugins=[Kill(6)], epochs=10, ckpt=ckpt).fit(NodeClassificationTask(data))
    assert load_checkpoint(ckpt)["epoch"] == 6
    resumed = make_engine(plugins=[Plugin()], epochs=10, ckpt=ckpt).fit(
        NodeClassificationTask(data)
    )
    assert resumed["metrics"] == full["metrics"]
    assert resumed["history"] == full["history"]
    assert resumed["best_epoch"] == full["best_epoch"]
    assert not list(tmp_path.glob("*.tmp"))


def test_early_stopping_and_best_epoch():
    data = toy_graph()
    eng = make_engine(epochs=200, patience=3)
    res = eng.fit(NodeClassificationTask(data))
    assert res["epochs"] < 200
    best = max(h["valid_acc"] for h in res["history"])
    assert res["metrics"]["valid_acc"] == best
    first_best = next(h for h in res["history"] if h["valid_acc"] == best)
    assert res["best_epoch"] == first_best["epoch"]
    assert res["epochs"] - res["best_epoch"] == 3


def test_bad_arguments():
    model = GCN(3, 4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="mode"):
        Engine(model, opt, mode="up")
    with pytest.raises(ValueError, match="patience"):
        Engine(model, opt, patience=0)
    with pytest.raises(TypeError, match="not a Plugin"):
        Engine(model, opt, plugins=[object()])
    with pytest.raises(TypeError, match="not a Task"):
        Engine(model, opt, progress=False).fit(object())
    eng = Engine(model, opt, monitor="valid_nope", max_epochs=1, progress=False)
    with pytest.raises(KeyError, match="valid_nope"):
        eng.fit(NodeClassificationTask(toy_graph()))
    with pytest.raises(ValueError, match="needs data.y"):
        NodeClassificationTask(Data(x=torch.ones(2, 1), edge_index=torch.zeros(2, 0).long()))


def test_atomic_files(tmp_path):
    p = save_checkpoint(tmp_path / "a" / "x.pt", {"w": torch.arange(3)})
    assert torch.equal(load_checkpoint(p)["w"], torch.arange(3))
    q = write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert q.read_text().strip().startswith("{")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="could not be read"):
        load_checkpoint(tmp_path / "bad.pt")


def test_final_splits_evaluate_best_state_once():
    data = toy_graph()
    calls = []

    class Count(Plugin):
        def before_eval_exp(self, strategy, split, **kw):
            calls.append((strategy.epoch, split))

    eng = make_engine(plugins=[Count()], epochs=6, eval_splits=("valid",),
                      final_splits=("test",))
    res = eng.fit(NodeClassificationTask(data))
    assert [c for c in calls if c[1] == "test"] == [(6, "test")]
    both = make_engine(epochs=6).fit(NodeClassificationTask(data))
    assert res["metrics"]["test_acc"] == both["metrics"]["test_acc"]
    assert res["best_epoch"] == both["best_epoch"]


def test_pickle_checkpoints_are_refused(tmp_path):
    # a checkpoint that needs arbitrary unpickling (and could run code) is never loaded
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Boom()}))
    with pytest.raises(RuntimeError, match="could not be read safely"):
        load_checkpoint(tmp_path / "evil.pt")


class LayerLocal:
    r"""A task with its own update step: two local losses, each with its own backward and
    optimiser step (as layer-local methods do), through the engine's hooks."""

    def __init__(self, data):
        self.inner = NodeClassificationTask(data)

    def train_batches(self, strategy):
        return self.inner.train_batches(strategy)

    def training_loss(self, strategy, batch):
        return self.inner.training_loss(strategy, batch)

    def training_step(self, strategy, batch):
        for _ in range(2):
            strategy.zero_grad()
            strategy.backward(self.inner.training_loss(strategy, batch))
            strategy.update()

    def evaluate(self, strategy, split):
        return self.inner.evaluate(strategy, split)


def test_custom_training_step_fires_every_hook():
    rec = Recorder()
    res = make_engine(plugins=[rec], epochs=2).fit(LayerLocal(toy_graph()))
    assert rec.calls.count("before_backward") == 4 and rec.calls.count("after_update") == 4
    assert rec.calls.count("before_training_iteration") == 2
    assert res["history"][-1]["iteration"] == 4


def test_engine_without_optimiser_only_evaluates():
    model = GCN(3, 4, 3)
    res = Engine(model, None, max_epochs=0, monitor="valid_acc", progress=False).fit(
        NodeClassificationTask(toy_graph()))
    assert res["epochs"] == 0 and "test_acc" in res["metrics"]
    with pytest.raises(ValueError, match="without optimiser"):
        Engine(model, None, max_epochs=1, progress=False).fit(NodeClassificationTask(toy_graph()))


def test_resume_refuses_a_patience_that_would_have_stopped_earlier(tmp_path):
    from graphcl.train.engine import ResumeError

    data = toy_graph()
    ckpt = tmp_path / "run.ckpt"
    res = make_engine(epochs=30, ckpt=ckpt, fingerprint={"a": 1}).fit(NodeClassificationTask(data))
    hist = [h["valid_acc"] for h in res["history"]]
    # a patience of 1 stops at the first non-improving epoch: before the checkpoint's epoch 30
    if any(b <= a for a, b in zip(hist, hist[1:], strict=False)):
        with pytest.raises(ResumeError, match="patience 1 stops this run"):
            make_engine(epochs=30, ckpt=ckpt, patience=1, fingerprint={"a": 1}).fit(
                NodeClassificationTask(data))
    with pytest.raises(ResumeError, match="a differ"):
        make_engine(epochs=30, ckpt=ckpt, fingerprint={"a": 2}).fit(NodeClassificationTask(data))
    # raising the epoch cap continues the finished run as if run in one go
    longer = make_engine(epochs=35).fit(NodeClassificationTask(data))
    cont = make_engine(epochs=35, ckpt=ckpt, fingerprint={"a": 1}).fit(NodeClassificationTask(data))
    assert cont["history"] == longer["history"] and cont["metrics"] == longer["metrics"]


def test_a_plugin_stop_survives_resume(tmp_path):
    # a stop a plugin asked for is kept by the checkpoint; early stopping alone is re-derived
    from graphcl.train.engine import StopTraining

    class StopAt3(Plugin):
        def after_training_iteration(self, strategy, **kw):
            if strategy.epoch == 2:  # the third epoch is running
                raise StopTraining

    data = toy_graph()
    ckpt = tmp_path / "run.ckpt"
    first = make_engine(plugins=[StopAt3()], epochs=10, ckpt=ckpt).fit(NodeClassificationTask(data))
    assert first["epochs"] == 3
    again = make_engine(epochs=10, ckpt=ckpt).fit(NodeClassificationTask(data))
    assert again["epochs"] == 3 and again["history"] == first["history"]


def test_a_requested_stop_ends_on_an_evaluated_epoch():
    # evaluation every 5 epochs; a stop asked for during epoch 3 still evaluates epoch 3, so
    # the run reports the state it stopped in (e.g. an unlearning budget cut short)
    from graphcl.train.engine import StopTraining

    class StopAt3(Plugin):
        def after_training_iteration(self, strategy, **kw):
            if strategy.epoch == 2:
                raise StopTraining

    res = make_engine(plugins=[StopAt3()], epochs=10, eval_every=5).fit(
        NodeClassificationTask(toy_graph()))
    assert res["epochs"] == 3 and [h["epoch"] for h in res["history"]] == [3]
    assert res["best_epoch"] == 3 and "test_acc" in res["metrics"]


def test_experience_hooks_for_tasks():
    # begin_experience runs once before the first epoch; a task with unlearn_request makes the
    # engine fire before_unlearn / after_unlearn around its experience
    data = toy_graph()

    class Task(NodeClassificationTask):
        unlearn_request = "req"
        begun = 0

        def begin_experience(self, strategy):
            Task.begun += 1
            assert strategy.epoch == 0

    rec = Recorder()
    make_engine(plugins=[rec], epochs=2).fit(Task(data))
    assert Task.begun == 1
    assert rec.calls[0] == "before_unlearn" and rec.calls[-1] == "after_unlearn"
    assert rec.calls.count("before_unlearn") == 1
