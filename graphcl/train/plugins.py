r"""Plugin protocol of the training engine, with Avalanche's names for the hook points.

A plugin subclasses :class:`Plugin` and overrides any of the hooks below. Every hook has the
signature ``hook(strategy, **kwargs)``: ``strategy`` is the running
:class:`~graphcl.train.engine.Engine` (``strategy.model``, ``strategy.optimizer``,
``strategy.loss``, ``strategy.mb``, ``strategy.epoch``, ``strategy.experience`` …), so a plugin
can read or replace them, e.g. add a penalty to ``strategy.loss`` in :meth:`before_backward`.
The hooks are plain methods: a hand-written training loop may call them too.

Order of the training hooks (one experience)::

    before_training
      before_training_exp
        before_training_epoch
          before_training_iteration
            before_forward  after_forward
            before_backward after_backward
            before_update   after_update
          after_training_iteration
        after_training_epoch
      after_training_exp
    after_training

of the evaluation hooks: ``before_eval``, ``before_eval_exp``, ``after_eval_exp``,
``after_eval``; and around an unlearning request: ``before_unlearn``, ``after_unlearn``
(keyword ``request``).
"""

from __future__ import annotations

from typing import Any

import torch

TRAINING_HOOKS = (
    "before_training",
    "before_training_exp",
    "before_training_epoch",
    "before_training_iteration",
    "before_forward",
    "after_forward",
    "before_backward",
    "after_backward",
    "before_update",
    "after_update",
    "after_training_iteration",
    "after_training_epoch",
    "after_training_exp",
    "after_training",
)
EVAL_HOOKS = ("before_eval", "before_eval_exp", "after_eval_exp", "after_eval")
UNLEARN_HOOKS = ("before_unlearn", "after_unlearn")  # around a task with an unlearn_request
HOOKS = TRAINING_HOOKS + EVAL_HOOKS + UNLEARN_HOOKS


class Plugin:
    r"""Base class of engine plugins; every hook does nothing by default.

    A stateful plugin (e.g. EWC's importance weights, a replay buffer) overrides
    :meth:`state_dict` and :meth:`load_state_dict` so that it is checkpointed with the run.
    A plugin that trains parameters of its own (supermask scores, a hypernetwork) sets
    ``trains_parameters = True`` and holds their optimiser as ``optimizer``: the engine zeroes
    and steps it with the model's, and keeps the plugin's state with the best epoch.
    """

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state but got keys {sorted(state)}")

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_forward(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_forward(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_backward(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_update(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_update(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_training(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_eval(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_eval_exp(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_eval_exp(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_eval(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def before_unlearn(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def after_unlearn(self, strategy: Any, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ProgressBar(Plugin):
    r"""tqdm bars over epochs and over each epoch's batches (the batch bar only on a terminal).

    Added by ``Engine(progress=True)``; the epoch bar shows the best value of the monitor.
    """

    def __init__(self) -> None:
        self._epochs: Any = None
        self._batches: Any = None

    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._epochs = tqdm(total=strategy.max_epochs, initial=strategy.epoch, desc="epochs",
                            leave=False)

    def before_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        total = getattr(strategy.experience, "num_train_batches", None)
        self._batches = tqdm(total=total, desc="batches", leave=False, disable=None)

    def after_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        if self._batches is not None:
            self._batches.update(1)

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        if self._batches is not None:
            self._batches.close()
            self._batches = None

    def after_eval(self, strategy: Any, **kwargs: Any) -> None:
        if self._epochs is not None and strategy.is_training:
            self._epochs.update(strategy.epoch - self._epochs.n)  # epochs completed
            if strategy.best is not None:
                self._epochs.set_postfix(
                    {strategy.monitor: f"{strategy.best['metrics'][strategy.monitor]:.4f}"})

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        if self._epochs is not None:
            self._epochs.close()
            self._epochs = None


class Timer(Plugin):
    r"""Wall-clock seconds of every training epoch and every evaluation round, written into
    ``strategy.stats`` (``train_seconds``, ``eval_seconds``: lists, checkpointed with the run)
    together with ``train_examples`` (the task's ``num_train_examples``, when it has one)."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self._e0 = 0.0

    def before_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        import time

        self._t0 = time.perf_counter()

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        import time

        strategy.stats.setdefault("train_seconds", []).append(time.perf_counter() - self._t0)
        n = getattr(strategy.experience, "num_train_examples", None)
        if n is not None:
            strategy.stats["train_examples"] = int(n)

    def before_eval(self, strategy: Any, **kwargs: Any) -> None:
        import time

        self._e0 = time.perf_counter()

    def after_eval(self, strategy: Any, **kwargs: Any) -> None:
        import time

        if strategy.is_training:
            strategy.stats.setdefault("eval_seconds", []).append(time.perf_counter() - self._e0)


def tensor_nbytes(t: Any) -> int:
    r"""Bytes held by a tensor: its elements, or a sparse tensor's values and indices."""
    if t.layout == torch.sparse_csr:
        return sum(x.numel() * x.element_size()
                   for x in (t.values(), t.crow_indices(), t.col_indices()))
    if t.is_sparse:
        return sum(x.numel() * x.element_size() for x in (t._values(), t._indices()))
    return t.numel() * t.element_size()


class TrainingMemory(Plugin):
    r"""Peak training memory of one update step, counted as the forward-learning literature
    does (ForwardGNN, App. B): the activations saved for the backward pass (each storage once)
    plus the parameters that train in the step, their gradients and their optimiser state.
    A parameter trains in a step when it has a gradient after the backward pass, so a
    layer-local step counts one layer and an end-to-end step all of them. The peak over the
    run is written into ``strategy.stats["train_memory_mib"]`` (and its parts,
    ``train_activation_mib`` and ``train_parameter_mib``, at that step)."""

    def __init__(self) -> None:
        self._hooks: Any = None
        self._saved: dict[Any, int] = {}

    def before_forward(self, strategy: Any, **kwargs: Any) -> None:
        self._saved = {}

        def pack(t: Any) -> Any:
            if t.layout == torch.sparse_csr:
                key = ("csr", t.values().untyped_storage().data_ptr())
            elif t.is_sparse:
                key = ("coo", t._values().untyped_storage().data_ptr())
            else:
                key = ("dense", t.untyped_storage().data_ptr())
            self._saved[key] = tensor_nbytes(t)
            return t

        self._hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        self._hooks.__enter__()

    def after_forward(self, strategy: Any, **kwargs: Any) -> None:
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None

    def after_update(self, strategy: Any, **kwargs: Any) -> None:
        opt = strategy.optimizer
        params = 0
        for p in strategy.model.parameters():
            if p.grad is None:
                continue
            params += tensor_nbytes(p) + tensor_nbytes(p.grad)
            if opt is not None:
                params += sum(tensor_nbytes(v) for v in opt.state.get(p, {}).values()
                              if torch.is_tensor(v))
        acts = sum(self._saved.values())
        total = (acts + params) / 2**20
        if total > strategy.stats.get("train_memory_mib", 0.0):
            strategy.stats["train_memory_mib"] = total
            strategy.stats["train_activation_mib"] = acts / 2**20
            strategy.stats["train_parameter_mib"] = params / 2**20


class EpochLogger(Plugin):
    r"""One line per evaluated epoch on stderr: epoch, training loss, seconds and the metrics
    (``keys``: substrings selecting which; default every metric)."""

    def __init__(self, keys: tuple[str, ...] = (), prefix: str = "") -> None:
        self.keys = tuple(keys)
        self.prefix = prefix

    def after_eval(self, strategy: Any, **kwargs: Any) -> None:
        import sys

        if not strategy.is_training or not strategy.history:
            return
        h = strategy.history[-1]
        secs = strategy.stats.get("train_seconds", [float("nan")])[-1]
        parts = [f"{self.prefix}epoch {h['epoch']:3d}"]
        if "train_loss" in h:
            parts.append(f"loss {h['train_loss']:.4f}")
        parts.append(f"train {secs:.2f}s")
        parts += [f"{k} {v:.4f}" for k, v in h.items()
                  if k not in ("epoch", "iteration", "train_loss")
                  and (not self.keys or any(s in k for s in self.keys))]
        print(" ".join(parts), file=sys.stderr, flush=True)


class MultiStepLR(Plugin):
    r"""Multiplies every parameter group's learning rate by ``gamma`` at each epoch of
    ``milestones`` (counted from 0 within the experience), as ``torch.optim.lr_scheduler.
    MultiStepLR``; the starting rate is kept in the group (``initial_lr``), so a resumed run
    continues on the same schedule."""

    def __init__(self, milestones: list[int], gamma: float = 0.1) -> None:
        if any(int(m) < 0 for m in milestones) or not 0 < float(gamma):
            raise ValueError(f"MultiStepLR: milestones must be >= 0 and gamma > 0, got "
                             f"{milestones}, {gamma}")
        self.milestones, self.gamma = sorted(int(m) for m in milestones), float(gamma)

    def before_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        passed = sum(m <= strategy.epoch for m in self.milestones)
        for group in strategy.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * self.gamma ** passed
