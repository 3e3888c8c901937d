r"""Node state stored by owner: each rank holds the memory, pending messages, neighbour lists
and PRES statistics of the nodes it owns (``node % world_size == rank``) and nothing else.

A step of :class:`OwnerStoredTGN` (the memory model of one rank of a data-parallel run):

1. **fetch**: the neighbour lists of the shard's queries (sources, destinations, negatives)
   from their owners, then the memory rows (and PRES rows) of the queries, their valid
   neighbours and the whole batch's endpoints (the memory hook's batch nodes and the batch
   neighbours) — per fetch, the ids (with their sizes) then the rows, as the buffers' raw
   bytes (the answers' sizes are the requests');
2. **score** with the unchanged :class:`~graphcl.models.tgn.TGN` on a *local view*: the fetched
   rows are swapped in as the model's buffers, ids relabelled in order (``searchsorted`` of the
   sorted fetched ids, so every sort and tie of the model is the one of global ids);
3. **commit**: the memory update of the shard's nodes runs on the view, then the touched rows
   travel to their owners with their ids (one exchange; PRES rows another), which merge them as
   :func:`~graphcl.distributed.memory.sync_memory` does (latest event wins, message counts
   summed, ``mean`` messages merged; PRES: most observations); every rank inserts the whole
   batch's events into the neighbour lists it owns (no communication: the events are known to
   all).

Per rank the stored state is ``ceil(N / P)`` rows plus one step's working set
(``O(batch x (k + 1))`` rows); the traffic per step is that working set, independent of ``N``.
Scores and state equal those of the replicated layout (:mod:`graphcl.distributed.tasks`) and,
with dropout off, of one process with the same global batch.
Evaluation scores a shard of every batch on each rank and gathers the scores.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from graphcl.distributed.env import DistEnv
from graphcl.distributed.memory import (
    latest_events,
    merge_memory,
    merge_scheme,
    node_buffer_names,
    pack_bytes,
    pack_memory,
    pack_rows,
    scheme_buffers,
    unpack_bytes,
)
from graphcl.distributed.sharding import shard_bounds

__all__ = ["OwnerPartition", "OwnerStoredTGN"]


class OwnerPartition:
    r"""Node ``v`` belongs to rank ``v % world_size`` and sits in its row ``v // world_size``.

    Args:
        num_nodes (int): Number of nodes.
        world_size (int): Number of ranks.
        rank (int): This rank.
    """

    def __init__(self, num_nodes: int, world_size: int, rank: int) -> None:
        if world_size > num_nodes:
            raise ValueError(f"cannot partition {num_nodes} nodes over {world_size} ranks "
                             "(every rank must own a node)")
        self.num_nodes, self.world_size, self.rank = int(num_nodes), int(world_size), int(rank)
        self.num_local = len(range(self.rank, self.num_nodes, self.world_size))

    def owner(self, nodes: Tensor) -> Tensor:
        return nodes % self.world_size

    def local(self, nodes: Tensor) -> Tensor:
        r"""Row of each (owned) node in its owner's storage."""
        return nodes // self.world_size

    def nodes(self) -> Tensor:
        r"""The global ids this rank owns, in row order."""
        return torch.arange(self.rank, self.num_nodes, self.world_size)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"world_size={self.world_size}, rank={self.rank})")


class OwnerStoredTGN:
    r"""A :class:`~graphcl.models.tgn.TGN` (and its :class:`~graphcl.train.pres.PRES`
    scheme) whose node state is stored by owner over the ranks of ``env`` (see the module
    docstring). Building it shrinks the model's node buffers to the owned rows; every other
    attribute (``eval``, ``reset_state``, ``state_backup`` ...) is the model's and acts on
    the owned rows.

    Called like the model: with ``batch_context`` (a training shard and its whole batch) it
    returns the shard's scores; without (evaluation), it takes this rank's shard of the batch
    (``shard_by``) and returns the whole batch's scores, gathered. :meth:`update_state` (the
    whole batch) or :meth:`commit` (a shard) follows every call; both are collectives.

    Args:
        env (DistEnv): the process group.
        tgn (TGN): the model (its node buffers are replaced by the owned rows).
        scheme (PRES, optional): its training scheme.
        shard_by (str, optional): ``"time"`` or ``"owner"``, how evaluation batches are split.
            (default: ``"time"``)
    """

    def __init__(self, env: DistEnv, tgn: Any, scheme: Any = None,
                 shard_by: str = "time") -> None:
        self.env, self.tgn, self.scheme, self.shard_by = env, tgn, scheme, shard_by
        self.num_nodes = tgn.num_nodes
        self.part = OwnerPartition(tgn.num_nodes, env.world_size, env.rank)
        self._gmm = scheme.gmm if scheme_buffers(scheme) else None
        self._mods = [m for m in (tgn.memory, tgn.neighbors, self._gmm) if m is not None]
        self._names = [node_buffer_names(m) for m in self._mods]
        keep = self.part.nodes()
        for mod, names in zip(self._mods, self._names, strict=True):
            for k in names:
                mod._buffers[k] = mod._buffers[k][keep].clone()
        self._set_num_nodes(self.part.num_local)
        self._stored: list[dict[str, Tensor]] | None = None  # the owned buffers during a step
        self._view: Tensor | None = None  # global ids of the step's rows
        self._step: tuple | None = None
        self.exchange_seconds = 0.0  # time spent in the row exchanges
        self.exchange_bytes = 0  # bytes this rank received in them

    def __getattr__(self, name: str) -> Any:
        tgn = self.__dict__.get("tgn")  # absent while copy/pickle rebuild the object
        if tgn is None:
            raise AttributeError(name)
        return getattr(tgn, name)

    # --- rows and exchanges ----------------------------------------------------------------
    def _exchange(self, parts: list[Tensor], recv_sizes: list[int] | None = None,
                  ) -> list[Tensor]:
        t0 = time.perf_counter()
        out = self.env.exchange(parts, recv_sizes)
        self.exchange_seconds += time.perf_counter() - t0
        self.exchange_bytes += sum(o.numel() * o.element_size() for o in out)
        return out

    def _set_num_nodes(self, n: int) -> None:
        for obj in (self.tgn, *self._mods):
            obj.num_nodes = n

    def _bufs(self, i: int) -> list[Tensor]:
        return [self._mods[i]._buffers[k] for k in self._names[i]]

    def _state_bufs(self) -> list[Tensor]:
        out = self._bufs(0)
        return out + self._bufs(2) if self._gmm is not None else out

    def _route(self, ids: Tensor) -> tuple[Tensor, list[int]]:
        own = self.part.owner(ids)
        return torch.argsort(own, stable=True), torch.bincount(
            own, minlength=self.env.world_size).tolist()

    def _fetch(self, nodes: Tensor, bufs: list[Tensor]) -> Tensor:
        r"""The rows of ``bufs`` for global ``nodes``, from their owners, as raw bytes
        (:func:`~graphcl.distributed.memory.pack_bytes`)."""
        order, counts = self._route(nodes)
        asks = self._exchange(list(nodes[order].split(counts)))
        answers = self._exchange([pack_bytes(bufs, self.part.local(a)) for a in asks],
                                 recv_sizes=counts)  # one row per id asked
        rows = torch.cat(answers)
        out = torch.empty_like(rows)
        out[order] = rows
        return out

    def _send(self, ids: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r"""``rows`` of global ``ids`` to their owners: what this rank received, as (its rows
        of the ids, rows, sending rank)."""
        order, counts = self._route(ids)
        packed = torch.cat([ids.to(torch.float64)[:, None], rows], 1)[order]  # ids ride along
        got = self._exchange(list(packed.split(counts)))
        rank = torch.cat([torch.full((g.size(0),), r, dtype=torch.long)
                          for r, g in enumerate(got)])
        got = torch.cat(got)
        return self.part.local(got[:, 0].long()), got[:, 1:], rank

    # --- the local view ------------------------------------------------------------------
    def _local(self, ids: Tensor) -> Tensor:
        return torch.searchsorted(self._view, ids)

    def _local_or_outside(self, ids: Tensor) -> Tensor:
        r"""Local ids, and distinct ids ``>= len(view)`` for nodes outside the view (other
        shards' negatives: compared by the model, never read)."""
        m = self._view.numel()
        pos = torch.searchsorted(self._view, ids)
        hit = self._view[pos.clamp(max=m - 1)] == ids
        return torch.where(hit, pos, ids + m)

    def _enter(self, queries: Tensor, context: Tensor) -> None:
        r"""Fetches the rows a step reads and swaps them in as the model's buffers."""
        if self._stored is not None:
            raise RuntimeError("OwnerStoredTGN: a step is already open (call update_state or "
                               "commit after every forward)")
        q = torch.unique(queries)
        extra, lists = q[:0], None
        if self.tgn.embedding == "attention":
            bufs, k = self._bufs(1), self.tgn.neighbors.size
            lists = [b.new_empty((q.numel(), *b.shape[1:])) for b in bufs]
            unpack_bytes(lists, torch.arange(q.numel()), self._fetch(q, bufs))
            names = self._names[1]
            valid = torch.arange(k) < lists[names.index("count")].unsqueeze(1)
            extra = lists[names.index("neighbors")][valid]
        view = torch.unique(torch.cat([q, context, extra]))
        rows = self._fetch(view, self._state_bufs())
        self._stored = [dict(m._buffers) for m in self._mods]
        self._view, m = view, view.numel()
        for mod, names in zip(self._mods, self._names, strict=True):
            for name in names:
                b = mod._buffers[name]
                mod._buffers[name] = b.new_full((m, *b.shape[1:]), -1 if (
                    mod is self.tgn.neighbors and name == "edge_ids") else 0)
        unpack_bytes(self._state_bufs(), torch.arange(m), rows)
        if lists is not None and q.numel():  # the queries' lists, neighbours relabelled
            i = self._names[1].index("neighbors")
            lists[i] = self._local(lists[i]).clamp(max=m - 1).masked_fill(~valid, 0)
            rows_q = self._local(q)
            for b, v in zip(self._bufs(1), lists, strict=True):
                b[rows_q] = v
        self._set_num_nodes(m)
        self._count0 = self._gmm.count.clone() if self._gmm is not None else None

    def _leave(self) -> None:
        for mod, stored in zip(self._mods, self._stored or [], strict=True):
            mod._buffers.update(stored)
        self._stored, self._view = None, None
        self._set_num_nodes(self.part.num_local)

    # --- a step ----------------------------------------------------------------------------
    def shard_of(self, src: Tensor) -> Tensor:
        r"""Positions of this rank's evaluation shard in a batch with sources ``src``."""
        if self.shard_by == "owner":
            return (self.part.owner(src) == self.env.rank).nonzero().view(-1)
        a, b = shard_bounds(src.numel(), self.env.rank, self.env.world_size)
        return torch.arange(a, b)

    def _gather(self, x: Tensor, mine: Tensor, n: int) -> Tensor:
        idx = torch.cat(self.env.all_gather_varlen(mine))
        out = x.new_empty((n, *x.shape[1:]))
        out[idx] = torch.cat(self.env.all_gather_varlen(x))
        return out

    def __call__(self, src: Tensor, dst: Tensor, t: Tensor, neg_dst: Tensor | None = None, *,
                 msg: Tensor | None = None, memory_hook: Any = None,
                 batch_context: tuple[Tensor | None, ...] | None = None,
                 ) -> tuple[Tensor, Tensor | None, Any]:
        mine = None
        if batch_context is None:  # evaluation: the whole batch, scored in shards
            batch_context = (src, dst, t, msg, neg_dst)
            mine = self.shard_of(src)
            src, dst, t = src[mine], dst[mine], t[mine]
            msg = msg[mine] if msg is not None else None
            neg_dst = neg_dst[mine] if neg_dst is not None else None
        queries = [src, dst] if neg_dst is None else [src, dst, neg_dst.reshape(-1)]
        w_src, w_dst, w_t, w_msg = batch_context[:4]
        self._enter(torch.cat(queries), torch.cat([w_src, w_dst]))
        if src.numel():
            lc = self._local
            context = (lc(w_src), lc(w_dst), w_t, w_msg)
            if len(batch_context) > 4 and batch_context[4] is not None:
                context += (self._local_or_outside(batch_context[4]),)
            pos, neg, ctx = self.tgn(
                lc(src), lc(dst), t, None if neg_dst is None else lc(neg_dst), msg=msg,
                memory_hook=memory_hook, batch_context=context)
        else:
            pos = torch.zeros(0)
            neg = None if neg_dst is None else torch.zeros(neg_dst.shape)
            ctx = None
        self._step = (src, dst, t, msg, mine)
        if mine is not None:
            n = w_src.numel()
            pos = self._gather(pos, mine, n)
            neg = None if neg is None else self._gather(neg, mine, n)
        return pos, neg, ctx

    def update_state(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None,
                     ctx: Any = None, e_id: Tensor | None = None) -> None:
        r"""After an evaluation call on the batch ``(src, dst, t, msg)`` (or without one:
        absorbs the batch's events): commits this rank's shard and the batch's neighbours."""
        if self._step is None:
            mine = self.shard_of(src)
            self._enter(src[:0], torch.cat([src, dst]))
            shard = (src[mine], dst[mine], t[mine], None if msg is None else msg[mine])
        else:
            s_src, s_dst, s_t, s_msg, mine = self._step
            if mine is None:
                raise RuntimeError("OwnerStoredTGN: a call with batch_context scored a shard; "
                                   "write it with commit(), not update_state()")
            shard = (s_src, s_dst, s_t, s_msg)
        e_id = torch.arange(src.numel()) if e_id is None else e_id
        self.commit(*shard, e_id[mine], ctx, (src, dst, t, msg, e_id))

    @torch.no_grad()
    def commit(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None, e_id: Tensor,
               ctx: Any, whole: tuple) -> None:
        r"""Writes a step: the shard ``(src, dst, t, msg)`` (event ids ``e_id``, their order
        in the stream) updates its nodes' memory on the view (from ``ctx``, the forward's
        :class:`~graphcl.models.tgn.MemoryContext`, or computed here), the touched rows go to
        their owners, and the whole batch ``(src, dst, t, msg, e_id)`` enters the neighbour
        lists of the owned nodes."""
        if self._stored is None:
            self._enter(src[:0], torch.cat([whole[0], whole[1]]))
        lc, mem = self._local, self.tgn.memory
        if src.numel():
            if ctx is None:
                mem.update_state(lc(src), lc(dst), t, msg)
            else:
                mem.update_state(lc(src), lc(dst), t, msg, n_id=ctx.n_id, memory=ctx.memory,
                                 last_update=ctx.last_update)
        touched, last = latest_events(src, dst, e_id)
        rows = pack_memory(mem, lc(touched), last)
        if self._gmm is not None:
            seen = (self._gmm.count != self._count0).nonzero().view(-1)
            g_ids, g_rows = self._view[seen], pack_rows(self._bufs(2), seen)
        self._leave()
        self._step = None
        index, got, _ = self._send(touched, rows)
        merge_memory(mem, index, got)
        if self._gmm is not None:
            index, got, rank = self._send(g_ids, g_rows)
            merge_scheme(self._bufs(2), index, got, rank)
        nodes, *rest = self.tgn.neighbors.entries(*whole)
        keep = self.part.owner(nodes) == self.env.rank  # the entries of the owned rows
        self.tgn.neighbors.insert_entries(self.part.local(nodes[keep]),
                                          *(x[keep] for x in rest))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.part}, shard_by={self.shard_by!r})"
