r"""Pruning masks as an engine plugin: global magnitude masks by hand, iterative magnitude
pruning with rewinding through a stream, masks kept at zero by every update, state round
trip and a killed run resumed exactly."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from graphcl.lifelong.pruning import MagnitudePruning, global_magnitude_masks, sparsity
from graphcl.train.engine import Engine
from graphcl.train.plugins import Plugin


def test_global_magnitude_masks_by_hand():
    params = {"a": torch.tensor([[0.1, -3.0], [2.0, 0.5]]), "b": torch.tensor([[-0.2, 4.0]])}
    masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in params.items()}
    new = global_magnitude_masks(params, masks, 0.5)  # 3 of 6 go: 0.1, -0.2, 0.5
    assert new["a"].tolist() == [[False, True], [True, False]]
    assert new["b"].tolist() == [[False, True]]
    again = global_magnitude_masks(params, new, 0.34)  # 1 of the 3 left: 2.0
    assert again["a"].tolist() == [[False, True], [False, False]]
    assert sparsity(again) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\)"):
        global_magnitude_masks(params, masks, 1.0)


class _Task:
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 8, generator=g)
        self.y = (self.x[:, 0] > 0).long()

    def train_batches(self, strategy):
        yield self.x

    def training_loss(self, strategy, batch):
        return F.cross_entropy(strategy.model(batch), self.y)

    def evaluate(self, strategy, split):
        return {"acc": float((strategy.model(self.x).argmax(1) == self.y).float().mean())}


class _Watch(Plugin):
    def __init__(self):
        self.starts = []

    def before_training_exp(self, strategy, **kw):
        self.starts.append({n: p.detach().clone() for n, p in strategy.model.named_parameters()})


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def test_lottery_rounds_prune_and_rewind():
    model = _model()
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    lth, watch = MagnitudePruning(rate=0.5), _Watch()
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.1)
    engine = Engine(model, opt, plugins=[lth, watch], max_epochs=5, monitor="valid_acc",
                    eval_splits=("valid",), progress=False)
    out = engine.fit_stream([_Task(), _Task(), _Task()])
    assert sparsity(lth.masks) == pytest.approx(0.75, abs=0.01)  # two rounds of 50 %
    # each round is scored on the ticket it trained, not on its rewound start
    untrained = _Task().evaluate(SimpleNamespace(model=_model()), "valid")["acc"]
    for r in range(3):
        assert out["matrix"][r][r]["test_acc"] > untrained + 0.2
    for n in ("0.weight", "2.weight"):
        p = dict(model.named_parameters())[n]
        assert (p[~lth.masks[n]] == 0).all()   # pruned weights stay exactly zero
        # every later round starts from the initial weights of its survivors
        alive1 = watch.starts[1][n] != 0
        assert torch.equal(watch.starts[1][n][alive1], init[n][alive1])
        assert torch.equal(watch.starts[2][n][lth.masks[n]], init[n][lth.masks[n]])
        assert not (watch.starts[2][n][~lth.masks[n]]).any()
    assert torch.equal(dict(model.named_parameters())["0.bias"] != 0,
                       torch.ones(16, dtype=torch.bool))  # biases are not pruned
    fresh = MagnitudePruning()
    fresh.load_state_dict(lth.state_dict())
    assert all(torch.equal(fresh.masks[n], lth.masks[n]) for n in lth.masks)


def test_lottery_resumes_exactly(tmp_path):
    def run(kill):
        model = _model()
        lth = MagnitudePruning(rate=0.3)
        plugins = [lth]
        if kill:
            class Kill(Plugin):
                def after_training_epoch(self, strategy, **kw):
                    if strategy.experience_index == 1 and strategy.epoch == 2:
                        raise KeyboardInterrupt

            plugins.append(Kill())
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        engine = Engine(model, opt, plugins=plugins, max_epochs=4, monitor="valid_acc",
                        eval_splits=("valid",), progress=False,
                        checkpoint=tmp_path / "c.pt" if kill is not None else None)
        engine.fit_stream([_Task(), _Task(), _Task()])
        return model, lth

    ref_model, ref = run(None)
    with pytest.raises(KeyboardInterrupt):
        run(True)
    model, lth = run(False)
    assert all(torch.equal(lth.masks[n], ref.masks[n]) for n in ref.masks)
    for a, b in zip(model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_lottery_on_a_gnn_from_the_runner():
    from graphcl.lifelong import build_plugins
    from graphcl.methods import get_method
    from graphcl.runner import resolve, run_seed

    m = get_method("gnn")
    cfg = m.configure({}, (), {"epochs": 5})
    _, data, _ = resolve("synthetic:sbm")
    (lth,) = build_plugins(["lottery:rate=0.5"])
    r = run_seed(m, data, cfg, 0, plugins=[lth], progress=False, stream="repeat:3")
    assert sparsity(lth.masks) == pytest.approx(0.75, abs=0.01)
    conv = dict(r["engine"].model.named_parameters())
    assert all((conv[n][~mk] == 0).all() for n, mk in lth.masks.items())
    assert 0 <= r["metrics"]["test_acc"] <= 1 and len(r["stream"]["matrix"]) == 3
    with pytest.raises(ValueError, match="repeat takes a number of experiences"):
        run_seed(m, data, cfg, 0, plugins=[], progress=False, stream="repeat:0-1")


def test_structured_pruning_reaches_the_flops_target():
    pytest.importorskip("torch_pruning")
    from graphcl.models.convnet import ConvNet
    from graphcl.nn.structured_pruning import count_flops, prune_to_speedup

    torch.manual_seed(0)
    model = ConvNet((16, 32, 32)).eval()
    x = torch.randn(1, 1, 28, 28)
    before = count_flops(model, x)[0]
    out = prune_to_speedup(model, x, 2.0, steps=100)
    assert out["speedup"] >= 2.0 and out["speedup"] < 2.3
    assert count_flops(model, x)[0] == pytest.approx(before / out["speedup"])
    assert model(x).shape == (1, 10)  # the classifier keeps its outputs
    assert model.classifier.in_features < 32  # channels were removed, not masked
    with pytest.raises(ValueError, match="speed-up target must be >= 1"):
        prune_to_speedup(model, x, 0.5)
    with pytest.raises(ValueError, match="speed-up 1000 is unreachable"):
        prune_to_speedup(ConvNet((4, 4)), x, 1000, steps=20)


def test_group_sparsity_adds_the_weighted_group_gradient():
    pytest.importorskip("torch_pruning")
    from types import SimpleNamespace

    from graphcl.lifelong.pruning import GroupSparsity
    from graphcl.models.convnet import ConvNet
    from graphcl.runner import run_experiment

    torch.manual_seed(0)
    model = ConvNet((8, 16))
    x = torch.randn(2, 1, 12, 12)
    plugin = GroupSparsity(reg=0.5, alpha=16, input_shape=[1, 12, 12])
    strategy = SimpleNamespace(model=model, experience=None)
    plugin.before_training(strategy)
    model(x).sum().backward()
    before = {n: p.grad.clone() for n, p in model.named_parameters()}
    plugin.before_update(strategy)
    w = model.features[0].weight.detach()
    delta = (model.features[0].weight.grad - before["features.0.weight"]) / (0.5 * w)
    gamma = delta.flatten(1)[:, 0]
    # every output channel's whole kernel gets reg * gamma_g * w, gamma_g in [1, alpha]:
    # the weakest group (lowest importance) gets alpha, the strongest 1
    assert torch.allclose(delta.flatten(1), gamma[:, None].expand_as(delta.flatten(1)),
                          rtol=1e-4)
    assert gamma.min() == pytest.approx(1.0, rel=1e-4) and gamma.max() <= 16 + 1e-3
    # biases are left alone (bias=False), the classifier's outputs are never a group
    assert torch.equal(model.classifier.bias.grad, before["classifier.bias"])
    with pytest.raises(ValueError, match="alpha >= 1"):
        run_experiment("cnn", "synthetic:images", progress=False,
                       plugins=["group-sparsity:alpha=0.5"])
