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
floating-point summation order): that is what the tests check. A shard is scored with the
whole batch as context — its events (batch neighbours, PRES's pending events), its endpoints
(the memory hook's batch nodes) and its negatives (TGN's ``query_time="first"`` embeds a node
at its first query in the *whole* batch) — so only PRES's coherence term, a mean over each
shard's nodes, leaves the ranks close to one process rather than equal to it. Dropout masks
are drawn from generators seeded alike on every rank.

``shard_task(..., partition_memory=True)`` stores a memory model's node state by owner
instead of on every rank (:class:`~graphcl.distributed.partition.OwnerStoredTGN`): same
scores and state, ``1/world_size`` of the rows per rank, one resume state per rank.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from graphcl.distributed.env import DistEnv
from graphcl.distributed.memory import latest_events, node_state_bytes, sync_memory, sync_scheme
from graphcl.distributed.partition import OwnerStoredTGN
from graphcl.distributed.sharding import check_world_size, shard_bounds, shard_weight
from graphcl.models.tgn import TGN
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


def _context(whole: tuple) -> tuple:
    src, dst, t, msg, _, neg = whole
    return src, dst, t, msg, neg  # TGN.forward's batch_context


class ShardedTemporalLinkTask(TemporalLinkTask):
    r""":class:`~graphcl.train.temporal.TemporalLinkTask` for one rank of a data-parallel run
    (see the module docstring). Build it with :func:`shard_task`. Time spent synchronising
    the node state accumulates in ``strategy.stats["sync_seconds"]`` (node state stored by
    owner: the row exchanges in ``"exchange_seconds"`` and ``"exchange_bytes"``); the bytes of
    node state this rank holds are ``"node_state_bytes"``."""

    env: DistEnv
    shard_by: str = "time"
    owner_store: OwnerStoredTGN | None = None  # node state stored by owner (partitioned)

    def _parts(self, strategy: Any) -> tuple[Any, Any]:
        tgn, scheme = TemporalLinkTask._parts(strategy)
        if self.owner_store is not None:
            return self.owner_store, scheme
        return tgn, scheme

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
            yield part, (src, dst, t, msg, e_id, neg), weight

    def training_loss(self, strategy: Any, batch: tuple) -> Tensor:
        (src, dst, t, msg, _, neg), whole, weight = batch
        if self.owner_store is not None:
            self._exchanged = (self.owner_store.exchange_seconds,
                               self.owner_store.exchange_bytes)
        if src.numel() == 0:  # a last batch smaller than the world: a zero contribution
            if self.owner_store is not None:  # still takes part in the step's exchanges
                self.owner_store(src, dst, t, neg, msg=msg, batch_context=_context(whole))
            self._ctx = None
            return sum(p.sum() * 0.0 for p in strategy.model.parameters() if p.requires_grad)
        return self.link_loss(strategy, src, dst, t, msg, neg,
                              batch_context=_context(whole)) * weight

    def after_update(self, strategy: Any, batch: tuple) -> None:
        (src, dst, t, msg, e_id, _), whole, _ = batch
        tgn, scheme = TemporalLinkTask._parts(strategy)
        st = strategy.stats
        if self.owner_store is not None:  # write-back to the owners; the step's exchanges
            o, (s0, b0) = self.owner_store, self._exchanged
            o.commit(src, dst, t, msg, e_id, self._ctx, whole[:5])
            st["exchange_seconds"] = st.get("exchange_seconds", 0.0) + o.exchange_seconds - s0
            st["exchange_bytes"] = st.get("exchange_bytes", 0) + o.exchange_bytes - b0
        else:
            if src.numel():
                c = self._ctx
                tgn.memory.update_state(src, dst, t, msg, n_id=c.n_id, memory=c.memory,
                                        last_update=c.last_update)
            tgn.neighbors.insert(*whole[:5])
            t0 = time.perf_counter()
            touched, last = latest_events(src, dst, e_id)  # each node's latest event here
            sync_memory(self.env, tgn.memory, touched, last)
            sync_scheme(self.env, scheme, touched)
            st["sync_seconds"] = st.get("sync_seconds", 0.0) + time.perf_counter() - t0
        st["node_state_bytes"] = node_state_bytes(tgn, scheme)  # this rank's rows
        tgn.detach()
        self._ctx = None


_SHARDED = {NCNLinkTask: ShardedNCNLinkTask, TemporalLinkTask: ShardedTemporalLinkTask}


def shard_task(task: Any, env: DistEnv, shard_by: str = "time", *,
               model: torch.nn.Module | None = None, partition_memory: bool = False) -> Any:
    r"""The data-parallel version of ``task`` for this rank.

    Args:
        task: an NCN/NCNC or memory-model task.
        env (DistEnv): the process group.
        shard_by (str, optional): how a memory model's global batch is split: ``"time"``
            (contiguous chronological shards) or ``"owner"`` (each rank takes the events whose
            source node it owns, ``node % world_size``: a source's memory and messages are
            written by one rank only); both give the single-process result.
            (default: ``"time"``)
        model (Module, optional): the engine's model; required for a memory-model task (the
            ``{"tgn": ..., "pres": ...}`` dict: its first entry must be a
            :class:`~graphcl.models.tgn.TGN`, the protocol's other models have no
            data-parallel version). (default: :obj:`None`)
        partition_memory (bool, optional): store the memory model's node state (memory,
            messages, neighbour lists, PRES statistics) by owner instead of on every rank,
            each rank holding its ``ceil(N / world_size)`` rows and fetching a step's rows from
            their owners (:class:`~graphcl.distributed.partition.OwnerStoredTGN`); the
            model's buffers are partitioned now. (default: :obj:`False`)

    Raises:
        ValueError: a task or model without a data-parallel version (only NCN/NCNC and the
            TGN family with PRES have one), a world size that does not split its batches, or
            a partitioned memory for a task without one.
    """
    cls = _SHARDED.get(type(task))
    if cls is None:
        known = ", ".join(t.__name__ for t in _SHARDED)
        raise ValueError(f"{type(task).__name__} has no data-parallel version (tasks that "
                         f"have one: {known}: methods ncnc/ncn and tgn/pres)")
    if shard_by not in ("time", "owner"):
        raise ValueError(f"shard_by must be 'time' or 'owner', got {shard_by!r}")
    if cls is ShardedTemporalLinkTask:
        if not isinstance(model, torch.nn.ModuleDict):
            raise ValueError("a memory-model task needs the engine's model: pass model=")
        first = next(iter(model.values()), None)
        if not isinstance(first, TGN):
            raise ValueError(f"the temporal link protocol trains data-parallel only with the "
                             f"TGN family (methods tgn/pres), not {type(first).__name__}")
        n = task.streams["train"].num_events
    else:
        if partition_memory:
            raise ValueError(f"partition_memory: {type(task).__name__} keeps no node memory "
                             "(only the memory models, methods tgn/pres, store node state)")
        n = task.data.split.train_pos.size(1)
    check_world_size(env.world_size, task.batch_size, n)
    out = _view(cls, task, env)
    out.shard_by = shard_by
    if partition_memory:
        scheme = model["pres"] if "pres" in model else None
        out.owner_store = OwnerStoredTGN(env, first, scheme, shard_by)
    return out
