r"""A run killed mid-epoch resumes exactly, for every method: the resumed run's metrics and
validation curve equal an uninterrupted run's."""

import pytest

from graphcl.lifelong import register_plugin
from graphcl.runner import run_experiment
from graphcl.train.plugins import Plugin

pytestmark = pytest.mark.usefixtures("one_thread")


@register_plugin("test-kill-once")
class KillOnce(Plugin):
    r"""Raises KeyboardInterrupt at the given epoch's second iteration, once per tag."""

    done: set = set()

    def __init__(self, tag: str = "", epoch: int = 1, iteration: int = 2,
                 experience: int = 0) -> None:
        self.tag, self.epoch, self.seen = tag, epoch, 0
        self.iteration, self.exp = iteration, experience

    def before_training_epoch(self, strategy, **kw):
        self.seen = 0

    def after_training_iteration(self, strategy, **kw):
        self.seen += 1
        if (strategy.epoch == self.epoch and self.seen == self.iteration
                and strategy.experience_index == self.exp and self.tag not in KillOnce.done):
            KillOnce.done.add(self.tag)
            raise KeyboardInterrupt("simulated kill")


SMALL_TEMPORAL = {"epochs": 3, "memory_dim": 8, "time_dim": 4, "embedding_dim": 8,
                  "mrr_num_neg": 5, "max_train_events": 1200, "batch_size": 100, "lr": 3e-3}
CASES = {
    "gae": ("synthetic:sbm", {"epochs": 3, "batch_size": 512}),
    "ncn": ("synthetic:sbm", {"epochs": 3, "hiddim": 8, "batch_size": 256}),
    "ncnc": ("synthetic:sbm", {"epochs": 3, "hiddim": 8, "batch_size": 256}),
    "tgn": ("synthetic:temporal-sbm", SMALL_TEMPORAL),
    "pres": ("synthetic:temporal-sbm", {**SMALL_TEMPORAL, "pres.gamma": 0.5}),
    "gnn": ("synthetic:graphs", {"epochs": 3, "conv": "gin", "batch_size": 16}),
    # greedy layer-wise: one step per epoch, killed inside the second layer's experience
    "forwardgnn": ("synthetic:sbm", {"epochs": 4, "hidden": 8, "num_layers": 2},
                   "epoch=2,iteration=1,experience=1"),
    # one Adam step per epoch on the mixing weights: killed in the second epoch
    "w2pgnn": ("synthetic:graphs", {"epochs": 4, "resolution": 16, "eval_resolution": 24,
                                    "pretrain": ["graphon:sbm2+graphon:er"],
                                    "variant": "domain"}, "epoch=2,iteration=1"),
    "pretrain": ("synthetic:graphs", {"epochs": 3, "hidden": 8, "batch_size": 32}),
    "forwardgnn-top2input": ("synthetic:sbm", {"epochs": 4, "hidden": 8,
                                               "variant": "sf-top2input"}, ""),
}


@pytest.mark.parametrize("method", list(CASES))
def test_kill_and_resume_is_exact(method, tmp_path):
    spec, over, *where = CASES[method]
    where = f",{where[0]}" if where and where[0] else ""
    plugin = f"test-kill-once:tag={method}{where}"
    name = method.split("-")[0]
    # the plugin is part of the run's identity: the reference run carries it too (a tag that
    # has fired already never fires again)
    KillOnce.done.add(f"{method}-ref")
    ref = run_experiment(name, spec, overrides=over, progress=False,
                         plugins=[f"test-kill-once:tag={method}-ref{where}"])
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(name, spec, overrides=over, progress=False, out=out, plugins=[plugin])
    assert (tmp_path / "r.json.seed0.state.pt").exists()
    res = run_experiment(name, spec, overrides=over, progress=False, out=out, plugins=[plugin])
    assert res["metrics"] == ref["metrics"]
    assert res["curves"] == ref["curves"]
    assert not (tmp_path / "r.json.seed0.state.pt").exists()
