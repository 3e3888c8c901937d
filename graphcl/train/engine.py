r"""The training engine: epochs, experiences, model selection, checkpoint/resume and plugins.

The engine knows nothing about graphs. A *task* (static link prediction, the NCN protocol,
temporal link prediction, node or graph classification) says how one epoch is cut into
mini-batches, how a mini-batch becomes a loss, and how a split is evaluated; the engine runs
the loop, calls the plugins at Avalanche's hook points, selects the best epoch on a validation
metric (or each metric at its own best epoch), and checkpoints everything needed to resume a
killed run bit-exactly. :meth:`Engine.fit` trains one experience; :meth:`Engine.fit_stream`
trains a sequence of them and records the evaluation matrix across experiences.

Every method of graphcl trains through this class (``graphcl.methods``), so a plugin — a
continual-learning penalty, an unlearning request, a pruning mask, a profiler — reaches every
method. Progress bars and timing are plugins too (:mod:`graphcl.train.plugins`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
from graphcl.train.plugins import HOOKS, Plugin, ProgressBar, Timer
from graphcl.train.seed import get_rng_state, seed_everything, set_rng_state


@runtime_checkable
class Task(Protocol):
    r"""What the :class:`Engine` needs from a learning problem.

    Optional methods, called when present:

    * ``begin_experience(strategy)``: one-off work before the experience's first epoch, with
      the model as the previous experience left it (e.g. an unlearning method's frozen
      teachers); not called again when a checkpoint resumes the experience mid-way, so its
      results belong in the task's ``state_dict``;
    * ``unlearn_request``: an attribute; when present the experience is an unlearning request
      and the ``before_unlearn`` / ``after_unlearn`` hooks fire around it (keyword
      ``request``);
    * ``on_epoch_start(strategy)``: e.g. reset a temporal memory;
    * ``training_step(strategy, batch)``: replaces the engine's default update step (forward,
      backward, optimiser step) for methods that do not train end to end; it should call
      ``strategy.backward(loss)`` and ``strategy.update()`` (or fire the hooks itself) so that
      every plugin still sees every step;
    * ``after_update(strategy, batch)``: e.g. write a batch's events into the memory after the
      optimiser step;
    * ``begin_eval(strategy, splits)`` / ``end_eval(strategy)``: shared work of one evaluation
      round (e.g. one encoder pass for every split);
    * ``backup_state(strategy)`` / ``restore_state(strategy, backup)``: the task's mutable state (temporal
      memory, pending messages, neighbour stores, scheme statistics, sampler generators), so
      that :meth:`Engine.preserved_state` can run extra forward passes (a plugin's Fisher
      estimate, an evaluation of another experience) without disturbing training;
    * ``state_dict()`` / ``load_state_dict(state)``: state that is not in ``strategy.model``,
      checkpointed with the run;
    * ``transient_state_keys(strategy)``: keys of ``strategy.model``'s state that the task
      resets at every epoch start (left out of the per-epoch checkpoints; the best-epoch
      snapshot keeps them);
    * ``num_train_examples``: examples per training epoch (for throughput statistics);
    * ``max_epochs``: an attribute; the experience's own epoch count (default: the engine's);
    * ``model_selection``: an attribute; ``False`` keeps the last evaluated epoch instead of
      the best ``monitor`` one (an unlearning experience, whose validation metric is the
      forgotten task's).
    """

    def train_batches(self, strategy: Engine) -> Iterable[Any]: ...

    def training_loss(self, strategy: Engine, batch: Any) -> Tensor: ...

    def evaluate(self, strategy: Engine, split: str) -> dict[str, float]: ...


class StopTraining(Exception):
    r"""Raised by a plugin (or a task) to end training after the current iteration."""


class ResumeError(ValueError):
    r"""A checkpoint that does not belong to this run (other config, data, plugins, epochs)."""


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    r"""Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_keys(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "<value>"]


class Engine:
    r"""Runs training epochs over a :class:`Task`, with plugins, model selection and resume.

    The reported result of :meth:`fit` is the evaluation of every split at the epoch with the
    best value of ``monitor`` (test-at-best-valid, as OGB and the papers report), or, with
    ``selection="per_metric"``, each metric at its own best validation epoch (the NCN code's
    per-K choice).

    Args:
        model (torch.nn.Module): the model being trained (its parameters, train/eval mode and
            state are managed by the engine).
        optimizer (torch.optim.Optimizer, optional): the optimiser over ``model``'s parameters;
            ``None`` for methods that have nothing to train (heuristics, analysis-only methods:
            ``max_epochs`` must then be 0) or that update their parameters in their own
            ``training_step``. (default: required)
        plugins (Sequence[Plugin], optional): plugins called at every hook point, in order.
            (default: ``()``)
        max_epochs (int, optional): number of epochs per experience. (default: ``100``)
        eval_every (int, optional): evaluate every this many epochs (and after the last).
            (default: ``1``)
        eval_splits (Sequence[str], optional): splits evaluated each time.
            (default: ``("valid", "test")``)
        final_splits (Sequence[str], optional): splits evaluated once, after training, on the
            best epoch's model state (e.g. ``("test",)`` for protocols that test a memory model
            only once, from its end-of-validation state). (default: ``()``)
        monitor (str, optional): ``"<split>_<metric>"`` key used for model selection and early
            stopping. (default: ``"valid_auc"``)
        mode (str, optional): ``"max"`` or ``"min"``. (default: ``"max"``)
        selection (str, optional): ``"monitor"`` reports every metric at the best ``monitor``
            epoch; ``"per_metric"`` reports each metric of the monitor's split, and the other
            splits' value of that metric, at that metric's own best epoch (the first one on
            ties). The model state kept is always the best ``monitor`` epoch's.
            (default: ``"monitor"``)
        patience (int, optional): stop after this many evaluations without improvement;
            ``None`` never stops early. (default: ``None``)
        grad_clip (float, optional): clip the global gradient norm. (default: ``None``)
        checkpoint (str or Path, optional): checkpoint file, rewritten atomically after every
            ``checkpoint_every`` epochs; if it exists when :meth:`fit` starts, the run resumes
            from it. (default: ``None``)
        checkpoint_every (int, optional): (default: ``1``)
        fingerprint (dict, optional): what a checkpoint must have been written with to be
            resumed (method, config, data digest, seed ...); a checkpoint with another
            fingerprint is refused, naming the keys that differ. ``max_epochs`` and
            ``patience`` may change between a run and its resumption (raising them continues
            a finished run) unless the new patience would have stopped the run earlier.
            (default: ``None``)
        seed (int, optional): seeds every generator when :meth:`fit` starts; leave ``None``
            when the caller seeded before building the model. (default: ``None``)
        progress (bool, optional): add a :class:`~graphcl.train.plugins.ProgressBar`; a
            :class:`~graphcl.train.plugins.Timer` is always on (``stats``). (default: ``True``)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        *,
        plugins: Sequence[Plugin] = (),
        max_epochs: int = 100,
        eval_every: int = 1,
        eval_splits: Sequence[str] = ("valid", "test"),
        final_splits: Sequence[str] = (),
        monitor: str = "valid_auc",
        mode: str = "max",
        selection: str = "monitor",
        patience: int | None = None,
        grad_clip: float | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1,
        fingerprint: dict[str, Any] | None = None,
        seed: int | None = None,
        progress: bool = True,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if selection not in ("monitor", "per_metric"):
            raise ValueError(f"selection must be 'monitor' or 'per_metric', got {selection!r}")
        if max_epochs < 0 or eval_every < 1 or checkpoint_every < 1:
            raise ValueError(
                "max_epochs must be >= 0 and eval_every, checkpoint_every >= 1; got "
                f"{max_epochs}, {eval_every}, {checkpoint_every}"
            )
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        for p in plugins:
            if not isinstance(p, Plugin) and not any(hasattr(p, h) for h in HOOKS):
                raise TypeError(f"{p!r} is not a Plugin (it implements no hook of {HOOKS})")
        self.model = model
        self.optimizer = optimizer
        self.plugins = list(plugins)
        self._builtin: list[Plugin] = [Timer()] + ([ProgressBar()] if progress else [])
        self.max_epochs = max_epochs
        self.eval_every = eval_every
        self.eval_splits = tuple(eval_splits)
        self.final_splits = tuple(final_splits)
        self.monitor = monitor
        self.mode = mode
        self.selection = selection
        self.patience = patience
        self.grad_clip = grad_clip
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.fingerprint = fingerprint
        self.seed = seed
        # False on the non-main ranks of a data-parallel run: they build the state (a plugin's
        # part may be a collective) and resume from the checkpoint, but only rank 0 writes it
        self.write_checkpoints = True
        self.experience_index = 0
        self.stream: list[Task] = []
        self._stream: dict[str, Any] | None = None
        self._reset_run_state()

    # --- run state -------------------------------------------------------------------------
    def _reset_run_state(self) -> None:
        self.experience: Task | None = None
        self.epoch = 0  # epochs completed in this experience
        self.iteration = 0  # optimiser steps completed in this experience
        self.mb: Any = None
        self.loss: Tensor | None = None
        self.is_training = False
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.best_per_metric: dict[str, dict[str, Any]] = {}
        self.best_model_state: dict[str, Tensor] | None = None
        self.best_plugin_states: list[dict[str, Any]] | None = None
        self.stats: dict[str, Any] = {}  # written by plugins (timings ...), checkpointed
        self._bad_evals = 0
        self._epoch_loss_sum = 0.0
        self._epoch_loss_n = 0
        self.stop_training = False

    def _better(self, value: float, ref: float) -> bool:
        return value > ref if self.mode == "max" else value < ref

    def _call(self, hook: str, **kwargs: Any) -> None:
        for p in self._builtin:
            getattr(p, hook)(self, **kwargs)
        for p in self.plugins:
            fn = getattr(p, hook, None)
            if fn is not None:
                fn(self, **kwargs)

    # --- checkpoint ------------------------------------------------------------------------
    def _stateful_plugins(self) -> list[Plugin]:
        r"""Plugins whose class keeps state (overrides ``state_dict``): checkpointed in order."""
        return [p for p in self.plugins if hasattr(p, "state_dict")
                and getattr(type(p), "state_dict", None) is not Plugin.state_dict]

    def _trainable_plugins(self) -> list[Plugin]:
        r"""Stateful plugins that train parameters of their own (supermask scores, a
        hypernetwork, ``trains_parameters = True``): the engine zeroes and steps their
        ``optimizer`` with its own, and keeps their state with the best epoch's model."""
        return [p for p in self._stateful_plugins() if getattr(p, "trains_parameters", False)]

    def _plugin_optimizers(self) -> list[torch.optim.Optimizer]:
        return [o for o in (getattr(p, "optimizer", None) for p in self._trainable_plugins())
                if o is not None]

    def _plugin_states(self) -> list[dict[str, Any]]:
        return [{"plugin": type(p).__name__, "state": p.state_dict()}
                for p in self._stateful_plugins()]

    def state_dict(self) -> dict[str, Any]:
        r"""Everything needed to resume: model, optimiser, RNGs, counters, task and plugins."""
        task = self.experience
        model = self.model.state_dict()
        if task is not None and hasattr(task, "transient_state_keys"):
            # state the task resets at every epoch start (a temporal memory): not needed to
            # resume, and the largest part of a memory model's state
            drop = set(task.transient_state_keys(self))
            model = {k: v for k, v in model.items() if k not in drop}
        return {
            "format": 2,
            "fingerprint": self.fingerprint,
            "model": model,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "rng": get_rng_state(),
            "experience": self.experience_index,
            "stream": self._stream,
            "epoch": self.epoch,
            "iteration": self.iteration,
            "history": self.history,
            "best": self.best,
            "best_per_metric": self.best_per_metric,
            "best_model_state": self.best_model_state,
            "best_plugin_states": self.best_plugin_states,
            "stats": self.stats,
            # a stop a plugin asked for; early stopping is re-derived from the history on load
            "stop_requested": self.stop_training and not self._patience_stop(),
            "task": task.state_dict() if task is not None and hasattr(task, "state_dict") else None,
            "plugins": self._plugin_states(),
        }

    def check_state(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        r"""Refuses a state written by another run (see ``fingerprint``), with the reason."""
        if state.get("format") != 2:
            raise ResumeError(f"{source} was written by an older graphcl (no run fingerprint); "
                              "delete it to start afresh")
        if self.fingerprint is not None and state.get("fingerprint") != self.fingerprint:
            diff = _diff_keys(state.get("fingerprint") or {}, self.fingerprint)
            raise ResumeError(f"{source} belongs to another run: {', '.join(diff[:8])} differ"
                              f"{' ...' if len(diff) > 8 else ''}; delete it or write elsewhere")
        mine = [type(p).__name__ for p in self._stateful_plugins()]
        theirs = [s["plugin"] for s in state["plugins"]]
        if mine != theirs:
            raise ResumeError(f"{source} holds state for plugins {theirs}, this run has stateful "
                              f"plugins {mine}; use the same plugins to resume")
        if state["epoch"] > self.max_epochs:
            raise ResumeError(f"{source} is at epoch {state['epoch']}, beyond max_epochs "
                              f"{self.max_epochs}; raise max_epochs or write elsewhere")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_state(state)
        # keys the task left out as transient keep their current (reset) values
        self.model.load_state_dict({**self.model.state_dict(), **state["model"]})
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.experience_index = state["experience"]
        self._stream = state["stream"]
        self.epoch = state["epoch"]
        self.iteration = state["iteration"]
        self.history = state["history"]
        self.best = state["best"]
        self.best_per_metric = state["best_per_metric"]
        self.best_model_state = state["best_model_state"]
        self.best_plugin_states = state.get("best_plugin_states")
        self.stats = state["stats"]
        self._replay_patience()
        self.stop_training = self.stop_training or state["stop_requested"]
        task = self.experience
        if state.get("task") is not None:
            if task is None or not hasattr(task, "load_state_dict"):
                raise ResumeError("checkpoint holds task state but the task has no load_state_dict")
            task.load_state_dict(state["task"])
        for p, s in zip(self._stateful_plugins(), state["plugins"], strict=True):
            p.load_state_dict(s["state"])
        set_rng_state(state["rng"])

    def _patience_stop(self) -> bool:
        return self.patience is not None and self._bad_evals >= self.patience

    def _replay_patience(self) -> None:
        r"""Re-derives early stopping from the history with the current ``patience``."""
        best, bad, stop_at = None, 0, None
        for i, h in enumerate(self.history):
            v = h[self.monitor]
            if best is None or (v is not None and not math.isnan(v) and self._better(v, best)):
                best, bad = v, 0
            else:
                bad += 1
                if self.patience is not None and bad >= self.patience and stop_at is None:
                    stop_at = i
        if stop_at is not None and stop_at < len(self.history) - 1:
            raise ResumeError(
                f"checkpoint holds {self.history[-1]['epoch']} epochs but patience "
                f"{self.patience} stops this run at epoch {self.history[stop_at]['epoch']}; "
                "write elsewhere to start afresh")
        self._bad_evals = bad
        self.stop_training = stop_at is not None

    def _save(self, also: Path | None = None) -> None:
        r"""Writes the checkpoint (and the same state to ``also``, if given)."""
        if self.checkpoint is not None:
            state = self.state_dict()  # on every rank: a plugin's state may be a collective
            if self.write_checkpoints:
                for path in (self.checkpoint, also):
                    if path is not None:
                        save_checkpoint(path, state)

    @contextlib.contextmanager
    def preserved_state(self, task: Task | None = None) -> Iterator[None]:
        r"""Runs the body (extra forward passes, another experience's evaluation) and then
        restores the task's mutable state, the global RNGs, the model's mode and gradients.

        Args:
            task (Task, optional): the task whose state to keep (default: the current one).
        """
        task = task if task is not None else self.experience
        backup = (task.backup_state(self) if task is not None and hasattr(task, "backup_state")
                  else None)
        rng = get_rng_state()
        was_training = self.model.training
        grads = {n: (None if p.grad is None else p.grad.clone())
                 for n, p in self.model.named_parameters()}
        try:
            yield
        finally:
            if backup is not None:
                task.restore_state(self, backup)
            set_rng_state(rng)
            self.model.train(was_training)
            for n, p in self.model.named_parameters():
                p.grad = grads[n]

    # --- loop ------------------------------------------------------------------------------
    def fit(self, task: Task, *, resume: bool = True) -> dict[str, Any]:
        r"""Trains on ``task`` (one experience) and returns the result at the best epoch.

        Returns:
            dict: ``{"best_epoch", "metrics" (every split's metrics at the best epoch, keys
            ``"<split>_<metric>"``), "history" (one entry per evaluation), "epochs", "stats"}``.
        """
        self._check_task(task)
        self._stream = None
        self.stream = [task]
        self.experience_index = 0
        self._reset_run_state()
        self.experience = task
        if self.seed is not None:
            seed_everything(self.seed)
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            state = load_checkpoint(self.checkpoint)
            if state.get("stream") is not None:
                raise ResumeError(f"{self.checkpoint} holds a stream of experiences; resume it "
                                  "with fit_stream")
            self.load_state_dict(state)
        return self._run_experience(task)

    def _check_task(self, task: Any) -> None:
        if not isinstance(task, Task):
            raise TypeError(
                f"{type(task).__name__} is not a Task: it needs train_batches, training_loss "
                "and evaluate"
            )
        if self.optimizer is None and self.max_epochs > 0 and not hasattr(task, "training_step"):
            raise ValueError("an Engine without optimiser can only evaluate (max_epochs=0) "
                             "unless the task brings its own training_step")

    def _run_experience(self, task: Task) -> dict[str, Any]:
        self.is_training = True
        if self.epoch == 0 and hasattr(task, "begin_experience"):
            task.begin_experience(self)  # not again when a checkpoint resumed it mid-way
        request = getattr(task, "unlearn_request", None)
        if request is not None:
            self._call("before_unlearn", request=request)
        self._call("before_training")
        self._call("before_training_exp")
        limit = int(getattr(task, "max_epochs", None) or self.max_epochs)
        for _ in range(self.epoch, limit):
            if self.stop_training:
                break
            self._train_epoch(task)
            self.epoch += 1
            if (self.epoch % self.eval_every == 0 or self.epoch == limit
                    or self.stop_training):  # a requested stop ends on an evaluated epoch
                self._evaluate_and_select(task)
            if self.epoch % self.checkpoint_every == 0 or self.stop_training:
                self._save()
        if self.best_model_state is not None:  # plugins see the selected model
            self.model.load_state_dict(self.best_model_state)
            for p, st in zip(self._trainable_plugins(), self.best_plugin_states or [],
                             strict=False):
                p.load_state_dict(st)
        self._call("after_training_exp")
        self._call("after_training")
        if request is not None:
            self._call("after_unlearn", request=request)
        self.is_training = False
        if self.best is None and self.max_epochs == 0:
            self._evaluate_and_select(task)
        metrics = self._selected_metrics()
        if self.final_splits and self.best is not None:
            metrics.update(self.evaluate(task, self.final_splits))
        return {
            "best_epoch": self.best["epoch"] if self.best else None,
            "metrics": metrics,
            "history": self.history,
            "epochs": self.epoch,
            "stats": dict(self.stats),
        }

    def _selected_metrics(self) -> dict[str, float]:
        if self.best is None:
            return {}
        if self.selection == "monitor":
            return dict(self.best["metrics"])
        out: dict[str, float] = {}
        for rec in self.best_per_metric.values():
            out.update(rec["metrics"])
        return out

    def fit_stream(self, stream: Sequence[Task], *, eval_split: str = "test",
                   resume: bool = True, initial: bool = False) -> dict[str, Any]:
        r"""Trains on each experience of ``stream`` in turn (the model, optimiser and plugins
        carry over; model selection and early stopping restart) and, after each, evaluates
        ``eval_split`` of every experience.

        The checkpoint is rewritten during every experience and after it (a killed run resumes
        in the experience it was in); a copy of the state after experience ``i`` is kept as
        ``<checkpoint stem>.exp<i><suffix>``.

        While it runs, ``strategy.stream`` is the list of experiences (a replay buffer computes
        its loss on an earlier experience's data through it).

        Args:
            initial (bool, optional): also evaluate every experience before training (the
                reference of forward transfer), returned as ``"initial"``. (default: ``False``)

        Returns:
            dict: ``{"experiences": [fit result per experience], "matrix": R}`` where
            ``R[i][j]`` holds the metrics of experience ``j`` after training experience ``i``
            (keys ``"<eval_split>_<metric>"``, each experience's state preserved around it).
        """
        stream = list(stream)
        if not stream:
            raise ValueError("fit_stream needs at least one experience")
        for t in stream:
            self._check_task(t)
        if self.seed is not None:
            seed_everything(self.seed)
        self.stream = stream
        results: list[dict[str, Any]] = []
        matrix: list[list[dict[str, float]]] = []
        start, in_progress = 0, False
        self._reset_run_state()
        before = None
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            state = load_checkpoint(self.checkpoint)
            if state.get("stream") is None:
                raise ResumeError(f"{self.checkpoint} holds a single-experience run, not a "
                                  "stream; write elsewhere")
            if state["stream"]["length"] != len(stream):
                raise ResumeError(f"{self.checkpoint} holds a stream of "
                                  f"{state['stream']['length']} experiences, not {len(stream)}")
            self.experience = stream[min(state["experience"], len(stream) - 1)]
            self.load_state_dict(state)
            results, matrix = self._stream["results"], self._stream["matrix"]
            start, in_progress = self._stream["done"], self._stream["in_progress"]
            before = self._stream.get("initial")
        elif initial:
            self.experience_index = 0
            before = [self._evaluate_preserved(t, eval_split) for t in stream]
        for i in range(start, len(stream)):
            task = stream[i]
            if not (in_progress and i == start):
                self._reset_run_state()
            self.experience = task
            self.experience_index = i
            self._stream = {"length": len(stream), "done": i, "in_progress": True,
                            "results": results, "matrix": matrix, "initial": before}
            res = self._run_experience(task)
            results.append({k: v for k, v in res.items() if k != "history"})
            matrix.append([self._evaluate_preserved(other, eval_split) for other in stream])
            self._stream = {"length": len(stream), "done": i + 1, "in_progress": False,
                            "results": results, "matrix": matrix, "initial": before}
            self.experience = task
            if self.checkpoint is not None:
                ck = self.checkpoint
                self._save(also=ck.with_name(f"{ck.stem}.exp{i}{ck.suffix}"))
        out: dict[str, Any] = {"experiences": results, "matrix": matrix}
        if before is not None:
            out["initial"] = before
        return out

    def _evaluate_preserved(self, task: Task, split: str) -> dict[str, float]:
        with self.preserved_state(task):
            return self.evaluate(task, [split])

    def train_epoch(self, task: Task) -> None:
        r"""One training epoch of ``task`` with every hook and no evaluation (benchmarks,
        custom schedules); ``epoch`` advances by one and ``stats["train_seconds"]`` grows."""
        self._check_task(task)
        self.experience = task
        self.is_training = True
        try:
            self._train_epoch(task)
            self.epoch += 1
        finally:
            self.is_training = False

    def _train_epoch(self, task: Task) -> None:
        self.model.train()
        if hasattr(task, "on_epoch_start"):
            task.on_epoch_start(self)
        self._epoch_loss_sum, self._epoch_loss_n = 0.0, 0
        self._call("before_training_epoch")
        try:
            self._train_iterations(task)
        except StopTraining:
            self.stop_training = True
        self._call("after_training_epoch")

    def _train_iterations(self, task: Task) -> None:
        custom = getattr(task, "training_step", None)
        for batch in task.train_batches(self):
            self.mb = batch
            self._call("before_training_iteration")
            if custom is not None:
                custom(self, batch)
            else:
                self.training_step(task, batch)
            if self.loss is not None:
                self._epoch_loss_sum += float(self.loss.detach())
                self._epoch_loss_n += 1
            self._call("after_training_iteration")
            if self.stop_training:
                break

    # --- the update step, overridable (subclass) or replaced per task (training_step) ------
    def zero_grad(self) -> None:
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.model.zero_grad(set_to_none=True)
        for opt in self._plugin_optimizers():
            opt.zero_grad(set_to_none=True)

    def training_step(self, task: Task, batch: Any) -> None:
        r"""The default update: forward, loss, backward, optimiser step, with their hooks."""
        self.zero_grad()
        self._call("before_forward")
        self.loss = task.training_loss(self, batch)
        self._call("after_forward")
        self.backward()
        self.update(task, batch)

    def backward(self, loss: Tensor | None = None) -> None:
        r"""``before_backward`` (plugins may change ``strategy.loss``), the backward pass and
        ``after_backward``. ``loss`` (default: ``strategy.loss``) becomes ``strategy.loss``."""
        if loss is not None:
            self.loss = loss
        if not torch.isfinite(self.loss.detach()).all():
            raise FloatingPointError(
                f"non-finite loss {self.loss.item()} at epoch {self.epoch}, "
                f"iteration {self.iteration}"
            )
        self._call("before_backward")
        self.loss.backward()
        self._call("after_backward")

    def update(self, task: Task | None = None, batch: Any = None, step=None) -> None:
        r"""Gradient clipping, ``before_update``, the optimiser step (or ``step()``, the
        parameter change of a method without optimiser: a closed-form update, a dampening)
        and that of every plugin that trains parameters of its own, the task's
        ``after_update`` and the ``after_update`` hook."""
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self._call("before_update")
        if step is not None:
            step()
        elif self.optimizer is not None:
            self.optimizer.step()
        for opt in self._plugin_optimizers():  # parameters a plugin trains (supermask scores)
            opt.step()
        self.iteration += 1
        task = task if task is not None else self.experience
        if task is not None and hasattr(task, "after_update"):
            task.after_update(self, batch if batch is not None else self.mb)
        self._call("after_update")

    # --- evaluation and selection ----------------------------------------------------------
    def evaluate(self, task: Task, splits: Sequence[str] | None = None) -> dict[str, float]:
        r"""Evaluates ``splits`` (default: ``eval_splits``); keys are ``"<split>_<metric>"``."""
        was_training = self.model.training
        self.model.eval()
        prev, self.experience = self.experience, task
        splits = tuple(splits or self.eval_splits)
        out: dict[str, float] = {}
        self._call("before_eval")
        with torch.no_grad():
            if hasattr(task, "begin_eval"):
                task.begin_eval(self, splits)
            try:
                for split in splits:
                    self._call("before_eval_exp", split=split)
                    metrics = task.evaluate(self, split)
                    self._call("after_eval_exp", split=split, metrics=metrics)
                    for k, v in metrics.items():
                        out[f"{split}_{k}"] = float(v)
            finally:
                if hasattr(task, "end_eval"):
                    task.end_eval(self)
        self._call("after_eval")
        self.experience = prev
        self.model.train(was_training)
        return out

    def _evaluate_and_select(self, task: Task) -> None:
        metrics = self.evaluate(task)
        if self.monitor not in metrics:
            raise KeyError(
                f"monitor {self.monitor!r} is not among the evaluated metrics {sorted(metrics)}"
            )
        value = metrics[self.monitor]
        entry = {"epoch": self.epoch, "iteration": self.iteration, **metrics}
        if self._epoch_loss_n:
            entry["train_loss"] = self._epoch_loss_sum / self._epoch_loss_n
        self.history.append(entry)
        if self.selection == "per_metric":
            split = self.monitor.split("_", 1)[0]
            for key, v in metrics.items():
                if not key.startswith(f"{split}_"):
                    continue
                name = key[len(split) + 1:]
                rec = self.best_per_metric.get(name)
                if rec is None or (not math.isnan(v) and self._better(v, rec["value"])):
                    self.best_per_metric[name] = {
                        "epoch": self.epoch, "value": v,
                        "metrics": {k: m for k, m in metrics.items()
                                    if k.split("_", 1)[1] == name}}
        improved = self.best is None or not getattr(task, "model_selection", True) or (
            not math.isnan(value) and self._better(value, self.best["metrics"][self.monitor])
        )
        if improved:
            self.best = {"epoch": self.epoch, "metrics": metrics}
            self.best_model_state = copy.deepcopy(self.model.state_dict())
            self.best_plugin_states = [copy.deepcopy(p.state_dict())
                                       for p in self._trainable_plugins()]
            self._bad_evals = 0
        else:
            self._bad_evals += 1
            if self._patience_stop():
                self.stop_training = True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(max_epochs={self.max_epochs}, monitor={self.monitor!r}, "
            f"mode={self.mode!r}, selection={self.selection!r}, patience={self.patience}, "
            f"plugins={self.plugins})"
        )
