r"""Plugins reach every method: EWC on GAE, NCN, NCNC, TGN and PRES through the engine, streams
of experiences with their evaluation matrix, and exact resume of a stream."""

import pytest
import torch

from graphcl.lifelong import build_plugin, parse_plugin_spec
from graphcl.lifelong.ewc import EWC
from graphcl.methods import get_method
from graphcl.train.engine import Engine, ResumeError
from graphcl.train.plugins import Plugin
from graphcl.train.seed import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


class LossProbe(Plugin):
    r"""Records ``strategy.loss`` at ``before_backward`` with the experience index."""

    def __init__(self):
        self.seen = []

    def before_backward(self, strategy, **kw):
        self.seen.append((strategy.experience_index, float(strategy.loss.detach())))


SMALL = {
    "gae": ("synthetic:sbm", {"epochs": 2}),
    "ncn": ("synthetic:sbm", {"epochs": 1, "hiddim": 8, "batch_size": 512}),
    "ncnc": ("synthetic:sbm", {"epochs": 1, "hiddim": 8, "batch_size": 512}),
    "tgn": ("synthetic:temporal-sbm", {"epochs": 1, "memory_dim": 8, "time_dim": 4,
                                       "embedding_dim": 8, "mrr_num_neg": 0,
                                       "max_train_events": 600, "lr": 1e-2}),
    "pres": ("synthetic:temporal-sbm", {"epochs": 1, "memory_dim": 8, "time_dim": 4,
                                        "embedding_dim": 8, "mrr_num_neg": 0,
                                        "max_train_events": 600, "batch_size": 300, "lr": 1e-2,
                                        "pres.gamma": 0.5}),
}


def _stream_engine(method, plugins, ckpt=None):
    from graphcl.runner import resolve

    spec, over = SMALL[method]
    m = get_method(method)
    _, data, names = resolve(spec)
    cfg = m.configure({}, names, over)
    seed_everything(0)
    s1 = m.build(data, cfg, 0)
    s2 = m.build(data, cfg, 1)  # a second experience: the same model kind on another draw
    s2.model = s1.model
    eng = Engine(s1.model, s1.optimizer, plugins=plugins, progress=False, checkpoint=ckpt,
                 **{k: v for k, v in s1.engine.items()})
    # the second task must act on the first's model (same module objects)
    return eng, [s1.task, s2.task]


@pytest.mark.parametrize("method", list(SMALL))
def test_ewc_fires_and_changes_the_loss_for_every_method(method):
    before, after = LossProbe(), LossProbe()
    ewc = EWC(ewc_lambda=1e4)
    eng, stream = _stream_engine(method, [before, ewc, after])
    res = eng.fit_stream(stream)
    assert len(res["matrix"]) == 2 and len(res["matrix"][1]) == 2
    first = [(b, a) for (e, b), (_, a) in zip(before.seen, after.seen, strict=True) if e == 0]
    second = [(b, a) for (e, b), (_, a) in zip(before.seen, after.seen, strict=True) if e == 1]
    assert first and second
    assert all(b == a for b, a in first)  # no penalty before the first experience ends
    # the penalty is on in the second (zero at its first step, where the weights are the
    # anchor, positive once they move)
    assert all(a >= b for b, a in second) and second[-1][1] > second[-1][0]
    assert len(ewc.fishers) == 2 and any(f.abs().sum() > 0 for f in ewc.fishers[0].values())


def test_ewc_fisher_pass_leaves_the_temporal_state_untouched():
    eng, stream = _stream_engine("tgn", [])
    eng.fit(stream[0])
    tgn = eng.model["tgn"]
    before = {k: v.clone() for k, v in tgn.state_dict().items()}
    rng = torch.get_rng_state()
    sampler = stream[0].train_neg.state_dict()
    EWC().fisher(eng)
    after = tgn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(stream[0].train_neg.state_dict()["generator"], sampler["generator"])


def test_ewc_penalty_by_hand():
    lin = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
    ewc = EWC(ewc_lambda=2.0)
    ewc.fishers = [{"weight": torch.tensor([[3.0, 0.5]])}]
    ewc.anchors = [{"weight": torch.tensor([[0.0, 0.0]])}]
    # 0.5 * 2 * (3 * 1^2 + 0.5 * 2^2) = 5
    assert float(ewc.penalty(lin)) == pytest.approx(5.0)
    ewc2 = EWC()
    ewc2.load_state_dict(ewc.state_dict())
    assert float(ewc2.penalty(lin)) == pytest.approx(2.5)  # lambda 1


def test_stream_resumes_exactly_after_a_kill(tmp_path):
    class KillInSecond(Plugin):
        def after_training_iteration(self, strategy, **kw):
            if strategy.experience_index == 1 and strategy.epoch == 1:
                raise KeyboardInterrupt("simulated kill")

    ref_eng, ref_stream = _stream_engine("gae", [EWC(ewc_lambda=10.0)])
    ref = ref_eng.fit_stream(ref_stream)
    ckpt = tmp_path / "s.ckpt"
    eng, stream = _stream_engine("gae", [EWC(ewc_lambda=10.0), KillInSecond()], ckpt)
    with pytest.raises(KeyboardInterrupt):
        eng.fit_stream(stream)
    assert (tmp_path / "s.exp0.ckpt").exists() and not (tmp_path / "s.exp1.ckpt").exists()
    eng, stream = _stream_engine("gae", [EWC(ewc_lambda=10.0)], ckpt)
    res = eng.fit_stream(stream)
    assert res["matrix"] == ref["matrix"]
    assert [r["metrics"] for r in res["experiences"]] == [
        r["metrics"] for r in ref["experiences"]]
    # the same checkpoint without the EWC plugin is refused (its state cannot be dropped)
    eng, stream = _stream_engine("gae", [], ckpt)
    with pytest.raises(ResumeError, match="plugins"):
        eng.fit_stream(stream)


def test_plugin_specs():
    assert parse_plugin_spec("ewc:ewc_lambda=100,mode=online") == (
        "ewc", {"ewc_lambda": 100, "mode": "online"})
    p = build_plugin({"name": "ewc", "ewc_lambda": 3})
    assert isinstance(p, EWC) and p.ewc_lambda == 3.0
    with pytest.raises(ValueError, match="unknown option"):
        build_plugin("ewc:lam=1")
    with pytest.raises(KeyError, match="did you mean 'ewc'"):
        build_plugin("ewcc")


def test_cli_plugin_runs_through_a_method(tmp_path):
    from graphcl.runner import run_experiment

    res = run_experiment("gae", "synthetic:sbm", overrides={"epochs": 2}, progress=False,
                         plugins=["ewc:ewc_lambda=10"], out=tmp_path / "r.json")
    assert res["plugins"] == ["ewc:ewc_lambda=10"]
