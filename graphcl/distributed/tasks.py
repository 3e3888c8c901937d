r"""Data-parallel versions of the tasks that support it.

The Engine gets the :class:`~graphcl.distributed.data_parallel.DataParallel` plugin beside
them (:func:`graphcl.runner.run_seed` adds both when the process is one of several).

* :class:`ShardedNCNLinkTask` (NCN/NCNC): every rank draws the same global batch (the
  generators are seeded alike) and masks the whole batch out of the message-passing graph, as
  one process would, then scores its contiguous shard; evaluation scores a contiguous share of
  the pairs on each rank and gathers the scores, so the metrics are those of all pairs.
* :class:`ShardedTemporalLinkTask` (TGN family, PRES): a global batch's events are split into
  chronological shards; each rank scores its shard with the whole batch as context (batch
  neighbours, PRES's pending events), writes its nodes' memory and messages, inserts the whole
  batch into the neighbour store, then the node state is synchronised
  (:mod:`graphcl.distributed.memory`). Evaluation streams through the memory on every rank
  (identical state, identical metrics; the engine shares rank 0's).

With dropout off both reproduce the single-process run with the same global batch (up to
floating-point summation order): that is what the tests check. Two exceptions, where the ranks
still agree with each other but not exactly with one process: TGN's ``query_time="first"``
embeds a node once per *shard*, at its first query there (never later than an event it is
scored for; ``"event"`` is exact), and PRES's coherence term is a mean over each shard's nodes.
Dropout masks are drawn from generators seeded alike on every rank.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from graphcl.distributed.env import DistEnv
from graphcl.distributed.memory import sync_memory, sync_scheme
from graphcl.distributed.sharding import check_world_size, shard_bounds, shard_weight
from graphcl.train.link import NCNLinkTask, _score
from graphcl.train.temporal import TemporalLinkTask

__all__ = ["ShardedNCNLinkTask", "ShardedTemporalLinkTask", "shard_task"]


def _view(cls: type, task: Any, env: DistEnv) -> Any:
    r"""``task`` as an instance of its sharded subclass ``cls`` (same state, shared tensors)."""
    out = cls.__new__(cls)
    out.__dict__.update(task.__dict__)
    out.env = env
    return out


class ShardedNCNLinkTask(NCNLinkTask):
    r""":class:`~graphcl.train.link.NCNLinkTask` for one rank of a data-parallel run (see the
    module docstring). Build it with :func:`shard_task`."""

    env: DistEnv

    def train_batches(self, strategy: Any):
        r = self.env
        for pos, neg, adj in super().train_batches(strategy):
            a, b = shard_bounds(pos.size(1), r.rank, r.world_size)
            yield pos[:, a:b], neg[:, a:b], adj

    def score_pairs(self, predictor: torch.nn.Module, h: Tensor | None, adj: Any,
                    pairs: Tensor) -> Tensor:
        a, b = shard_bounds(pairs.size(1), self.env.rank, self.env.world_size)
        mine = _score(predictor, h, adj, pairs[:, a:b], self.eval_batch_size)
        return torch.cat(self.env.all_gather_varlen(mine.float()))


class ShardedTemporalLinkTask(TemporalLinkTask):
    r""":class:`~graphcl.train.temporal.TemporalLinkTask` for one rank of a data-parallel run
    (see the module docstring). Build it with :func:`shard_task`. Time spent synchronising
    the node state accumulates in ``strategy.stats["sync_seconds"]``."""

    env: DistEnv
    shard_by: str = "time"

    def train_batches(self, strategy: Any):
        r = self.env
        for src, dst, t, msg, e_id, neg in super().train_batches(strategy):
            n = src.numel()
            if self.shard_by == "owner":  # the events whose source this rank owns
                mine = (src % r.world_size == r.rank).nonzero().view(-1)
                weight = mine.numel() * r.world_size / n
            else:
                a, b = shard_bounds(n, r.rank, r.world_size)
                mine, weight = torch.arange(a, b), shard_weight(n, r.rank, r.world_size)
            part = (src[mine], dst[mine], t[mine], msg[mine], e_id[mine], neg[mine])
            yield part, (src, dst, t, msg, e_id), weight

    def training_loss(self, strategy: Any, batch: tuple) -> Tensor:
        (src, dst, t, msg, _, neg), whole, weight = batch
        if src.numel() == 0:  # a last batch smaller than the world: a zero contribution
            self._ctx = None
            return sum(p.sum() * 0.0 for p in strategy.model.parameters() if p.requires_grad)
        return self.link_loss(strategy, src, dst, t, msg, neg, batch_context=whole[:4]) * weight

    def after_update(self, strategy: Any, batch: tuple) -> None:
        (src, dst, t, msg, e_id, _), whole, _ = batch
        tgn, scheme = self._parts(strategy)
        if src.numel():
            c = self._ctx
            tgn.memory.update_state(src, dst, t, msg, n_id=c.n_id, memory=c.memory,
                                    last_update=c.last_update)
        tgn.neighbors.insert(*whole)
        tgn.detach()
        self._ctx = None
        t0 = time.perf_counter()
        ends = torch.cat([src, dst])
        touched, inv = torch.unique(ends, return_inverse=True)
        last = torch.full((touched.numel(),), -1, dtype=torch.long).scatter_reduce_(
            0, inv, torch.cat([e_id, e_id]), "amax")  # each node's latest event here
        sync_memory(self.env, tgn.memory, touched, last)
        sync_scheme(self.env, scheme, touched)
        strategy.stats["sync_seconds"] = strategy.stats.get("sync_seconds", 0.0) + (
            time.perf_counter() - t0)


_SHARDED = {NCNLinkTask: ShardedNCNLinkTask, TemporalLinkTask: ShardedTemporalLinkTask}


def shard_task(task: Any, env: DistEnv, shard_by: str = "time") -> Any:
    r"""The data-parallel version of ``task`` for this rank.

    Args:
        task: an NCN/NCNC or memory-model task.
        env (DistEnv): the process group.
        shard_by (str, optional): how a memory model's global batch is split: ``"time"``
            (contiguous chronological shards) or ``"owner"`` (each rank takes the events whose
            source node it owns, ``node % world_size``: a source's memory and messages are
            written by one rank only, the layout of a memory partitioned by owner); both give
            the single-process result. (default: ``"time"``)

    Raises:
        ValueError: a task without a data-parallel version (only the NCN/NCNC and the memory
            models' protocols have one), or a world size that does not split its batches.
    """
    cls = _SHARDED.get(type(task))
    if cls is None:
        known = ", ".join(t.__name__ for t in _SHARDED)
        raise ValueError(f"{type(task).__name__} has no data-parallel version (tasks that "
                         f"have one: {known}: methods ncnc/ncn and tgn/pres)")
    n = (task.data.split.train_pos.size(1) if cls is ShardedNCNLinkTask
         else task.streams["train"].num_events)
    if shard_by not in ("time", "owner"):
        raise ValueError(f"shard_by must be 'time' or 'owner', got {shard_by!r}")
    check_world_size(env.world_size, task.batch_size, n)
    out = _view(cls, task, env)
    out.shard_by = shard_by
    return out
