r"""Data-parallel training through the Engine: gradient averaging as an Engine plugin.

:class:`DataParallel` gives a method's model the semantics of
:class:`torch.nn.parallel.DistributedDataParallel` — the parameters are broadcast from rank 0
when training starts and every rank's gradients are averaged (one flat all-reduce per dtype)
after each backward pass — without wrapping the model. graphcl's tasks call parts of the
model (an encoder, then a decoder; a memory, then an embedding), and DDP only synchronises
gradients of a forward that went through its wrapper; as a plugin the averaging reaches every
method, every custom ``training_step`` and every plugin that adds to the loss. Buffers are not
broadcast (DDP's ``broadcast_buffers`` would overwrite every rank's node memory with rank 0's):
stateful tasks synchronise their state explicitly (:mod:`graphcl.distributed.memory`).

The plugin also keeps the ranks in lockstep: every evaluation's metrics are rank 0's on all
ranks, so model selection and early stopping decide identically everywhere; and it checkpoints
every rank's generators (rank 0 writes the checkpoint, each rank resumes with its own).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from graphcl.distributed.env import DistEnv, DistributedError
from graphcl.train.plugins import Plugin
from graphcl.train.seed import get_rng_state, set_rng_state

__all__ = ["DataParallel", "average_gradients"]


def _trained_parameters(strategy: Any) -> list[Tensor]:
    params = [p for p in strategy.model.parameters() if p.requires_grad]
    seen = {id(p) for p in params}
    for opt in strategy._plugin_optimizers():  # parameters a plugin trains (supermask scores)
        for group in opt.param_groups:
            params += [p for p in group["params"] if id(p) not in seen]
            seen |= {id(p) for p in group["params"]}
    return params


def average_gradients(params: list[Tensor], env: DistEnv) -> None:
    r"""Replaces every gradient by its mean over the ranks (one all-reduce per dtype).

    A parameter without a gradient on some ranks (unused by their shard) counts as a zero
    gradient there; one without a gradient on every rank keeps ``None`` (an optimiser skips
    it, as in a single-process step)."""
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.uint8)
    env.all_reduce(has, "max")
    live = [p for p, h in zip(params, has.tolist(), strict=True) if h]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for p in live:
        by_dtype.setdefault(p.grad.dtype, []).append(p)
    for group in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])
        env.all_reduce(flat, "sum")
        flat /= env.world_size
        for p, g in zip(group, flat.split([p.numel() for p in group]), strict=True):
            p.grad.copy_(g.view_as(p.grad))


class DataParallel(Plugin):
    r"""Averages gradients over the ranks of ``env`` after every backward pass, broadcasts the
    parameters from rank 0 before training and shares rank 0's evaluation metrics.

    Put it after every plugin that changes gradients in ``after_backward``. Time spent in its
    collectives accumulates in ``strategy.stats["comm_seconds"]``.

    Args:
        env (DistEnv): the process group (:func:`~graphcl.distributed.init_from_env`).
    """

    def __init__(self, env: DistEnv) -> None:
        self.env = env
        self._rng: Any = None  # this rank's generators from a checkpoint, set before training

    def state_dict(self) -> dict[str, Any]:
        r"""Every rank's generator states (a collective: called on every rank). The ranks
        draw dropout masks for shards of different sizes, so their generators drift apart;
        a resumed run restores each rank's own."""
        return {"world_size": self.env.world_size,
                "rng": self.env.all_gather_object(get_rng_state())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["world_size"] != self.env.world_size:
            raise ValueError(f"the checkpoint was written by {state['world_size']} processes, "
                             f"this run has {self.env.world_size}; resume with the same --nproc")
        self._rng = state["rng"][self.env.rank]

    def _timed(self, strategy: Any, t0: float) -> None:
        strategy.stats["comm_seconds"] = strategy.stats.get("comm_seconds", 0.0) + (
            time.perf_counter() - t0)

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        points = self.env.all_gather_object((strategy.epoch, strategy.iteration))
        if len(set(points)) > 1:
            raise DistributedError(
                f"the ranks would resume from different points (epoch, iteration per rank: "
                f"{points}): their checkpoints come from different runs or from a run stopped "
                "between two ranks' writes; delete them to start afresh")
        if self._rng is not None:  # resumed: after the engine restored rank 0's generators
            set_rng_state(self._rng)
            self._rng = None
        t0 = time.perf_counter()
        with torch.no_grad():
            for p in _trained_parameters(strategy):
                self.env.broadcast(p.data, src=0)
        self._timed(strategy, t0)

    def after_backward(self, strategy: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        average_gradients(_trained_parameters(strategy), self.env)
        self._timed(strategy, t0)

    def after_eval_exp(self, strategy: Any, split: str = "", metrics: Any = None,
                       **kwargs: Any) -> None:
        if metrics is None:
            return
        keys = sorted(metrics)
        values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64)
        self.env.check_same(keys, f"set of {split} metrics")
        self.env.broadcast(values, src=0)
        metrics.update(zip(keys, values.tolist(), strict=True))

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.env.rank}, world_size={self.env.world_size})"
