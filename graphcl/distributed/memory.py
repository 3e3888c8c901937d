r"""Explicit synchronisation of node state (memories, pending messages, PRES statistics).

After a data-parallel step of a memory model each rank has written the state of the nodes of
*its* shard of the global batch; the other rows are stale. :func:`sync_node_state` makes every
rank hold, for every node, the state of the rank that updated it last:

* **memory, ``last_update`` and the message store** of :class:`~graphcl.nn.memory.NodeMemory`:
  the row of the rank holding the node's latest event wins (latest time, ties broken by the
  event's position in the stream — the message the single-process ``last`` aggregator keeps,
  whether the shards are chronological or by node owner); the message counts are summed.
  With the ``mean`` aggregator the pending messages
  of a node touched by several ranks are merged (count-weighted means, summed counts, latest
  time), which is what one process averaging the whole batch stores. Every touching rank
  computed the same updated memory (the same synchronised state, parameters and messages), so
  the memory rows need no merging.
* **PRES's per-node transition statistics**: the row with the most observations wins.

Staleness: inside a step a rank scores its shard from the memory synchronised after the
previous step, exactly the memory one process would use for the whole global batch; nothing is
staler than in single-process training with the global batch size. The neighbour store needs
no communication: every rank inserts the whole global batch (the events are known to all).

The exchange sends only the touched rows (ids and values, padded to the largest shard):
``O(batch nodes x state width)`` per step, independent of the number of nodes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.distributed.env import DistEnv

__all__ = ["gather_rows", "latest_rows", "sync_node_state", "sync_memory", "sync_scheme",
           "pack_rows", "unpack_rows", "pack_bytes", "unpack_bytes", "pack_memory", "merge_memory", "scheme_buffers",
           "merge_scheme", "latest_events", "node_state_bytes", "node_buffer_names"]


def pack_rows(buffers: list[Tensor], nodes: Tensor) -> Tensor:
    r"""Rows ``nodes`` of node-indexed ``buffers`` side by side as one ``[M, width]`` float64
    tensor (exact for float32 values and integers below 2**53)."""
    return torch.cat([b[nodes].reshape(nodes.numel(), b.shape[1:].numel())
                      .to(torch.float64) for b in buffers], 1)


def unpack_rows(buffers: list[Tensor], nodes: Tensor, rows: Tensor) -> None:
    r"""Writes rows made by :func:`pack_rows` into ``buffers[b][nodes]``."""
    col = 0
    for b in buffers:
        width = b.shape[1:].numel()
        part = rows[:, col:col + width]
        b[nodes] = part.reshape(nodes.numel(), *b.shape[1:]).to(b.dtype)
        col += width


def pack_bytes(buffers: list[Tensor], nodes: Tensor) -> Tensor:
    r"""Rows ``nodes`` of node-indexed ``buffers`` as their raw bytes, side by side: one
    ``[M, bytes]`` uint8 tensor (exact, and no wider than the buffers themselves)."""
    return torch.cat([b[nodes].reshape(nodes.numel(), b.shape[1:].numel()).contiguous()
                      .view(torch.uint8) for b in buffers], 1)


def unpack_bytes(buffers: list[Tensor], nodes: Tensor, rows: Tensor) -> None:
    r"""Writes rows made by :func:`pack_bytes` into ``buffers[b][nodes]``."""
    if nodes.numel() == 0:
        return
    col = 0
    for b in buffers:
        width = _row_bytes(b)
        part = rows[:, col:col + width].contiguous().view(b.dtype)
        b[nodes] = part.reshape(nodes.numel(), *b.shape[1:])
        col += width


def _row_bytes(b: Tensor) -> int:
    return b.shape[1:].numel() * b.element_size()


def gather_rows(env: DistEnv, nodes: Tensor, rows: Tensor, key: Tensor,
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Every rank's ``(nodes, rows, key)``, concatenated, with the rank of each row."""
    ids = env.all_gather_varlen(nodes.long())
    vals = env.all_gather_varlen(rows)
    keys = env.all_gather_varlen(key.to(torch.float64))
    rank = torch.cat([torch.full((n.numel(),), r, dtype=torch.long) for r, n in enumerate(ids)])
    return torch.cat(ids), torch.cat(vals), torch.cat(keys), rank


def latest_rows(ids: Tensor, key: Tensor, tiebreak: Tensor) -> tuple[Tensor, Tensor]:
    r"""For each distinct node of ``ids``, the index of its row with the largest ``(key,
    tiebreak)``: ``(nodes, index)``."""
    order = torch.argsort(tiebreak, stable=True)
    order = order[torch.argsort(key[order], stable=True)]
    order = order[torch.argsort(ids[order], stable=True)]
    sid = ids[order]
    last = torch.ones_like(sid, dtype=torch.bool)
    last[:-1] = sid[1:] != sid[:-1]
    return sid[last], order[last]


def sync_node_state(env: DistEnv, buffers: list[Tensor], touched: Tensor, key: Tensor) -> None:
    r"""Writes into every rank's ``buffers`` (node-indexed, first dimension ``N``) the rows of
    the nodes any rank ``touched``, taken from the rank with the largest ``key`` of that node
    (ties: the higher rank).

    Args:
        env (DistEnv): the process group.
        buffers (list[Tensor]): ``[N, ...]`` tensors of any dtype (exchanged as float64).
        touched (Tensor): this rank's updated nodes ``[M]`` (distinct).
        key (Tensor): ``[N]`` per-node version (a time, an observation count).
    """
    if env.world_size == 1:
        return
    ids, rows, keys, rank = gather_rows(env, touched, pack_rows(buffers, touched), key[touched])
    if ids.numel() == 0:
        return
    nodes, idx = latest_rows(ids, keys, rank)
    unpack_rows(buffers, nodes, rows[idx])


def _memory_parts(memory: Any) -> tuple[list[Tensor], list[Tensor], bool, int]:
    latest = [memory.memory, memory.last_update]
    msgs = [memory.msg_other, memory.msg_feat, memory.msg_enc]
    mean = memory.aggregator == "mean"
    if not mean:
        latest = latest + msgs
    return latest, msgs, mean, sum(b.shape[1:].numel() for b in latest)


def pack_memory(memory: Any, nodes: Tensor, last_event: Tensor) -> Tensor:
    r"""The rows of ``nodes`` of a :class:`~graphcl.nn.memory.NodeMemory` as one float64
    tensor for :func:`merge_memory`: memory, ``last_update`` (and the ``last`` aggregator's
    message), message count, the node's latest event id ``last_event`` ``[M]`` here, message
    time (and the ``mean`` aggregator's averaged message)."""
    latest, msgs, mean, _ = _memory_parts(memory)
    rows = [pack_rows(latest, nodes), memory.msg_count[nodes].to(torch.float64)[:, None],
            last_event.to(torch.float64)[:, None], memory.msg_time[nodes][:, None]]
    if mean:
        rows.append(pack_rows(msgs, nodes))
    return torch.cat(rows, 1)


def merge_memory(memory: Any, index: Tensor, rows: Tensor) -> None:
    r"""Writes into ``memory`` the rows :func:`pack_memory` made on several ranks for the
    buffer rows ``index`` (repeated where several ranks touched a node): the memory, and with
    the ``last`` aggregator the message, of the row holding the node's latest event (time,
    then event id); the message counts summed; with ``mean`` the messages merged
    count-weighted."""
    if index.numel() == 0:
        return
    latest, msgs, mean, width = _memory_parts(memory)
    count, last_event, key = rows[:, width], rows[:, width + 1], rows[:, width + 2]
    nodes, idx = latest_rows(index, key, last_event)
    unpack_rows(latest, nodes, rows[idx, :width])
    memory.msg_time[nodes] = key[idx]
    group = torch.searchsorted(nodes, index)
    total = torch.zeros(nodes.numel(), dtype=torch.float64).index_add_(0, group, count)
    memory.msg_count[nodes] = total.long()
    if mean:  # count-weighted means of every touching rank's averaged messages
        merged = torch.zeros(nodes.numel(), rows.size(1) - width - 3, dtype=torch.float64)
        merged.index_add_(0, group, rows[:, width + 3:] * count[:, None])
        unpack_rows(msgs, nodes, merged / total.clamp_min(1)[:, None])


def sync_memory(env: DistEnv, memory: Any, touched: Tensor, last_event: Tensor) -> None:
    r"""Synchronises a :class:`~graphcl.nn.memory.NodeMemory` (memory, ``last_update`` and
    pending messages) after a step in which this rank updated the nodes ``touched``: the
    memory and, with the ``last`` aggregator, the message of the rank that holds the node's
    latest event (latest time, then latest event id ``last_event`` ``[M]``: the order one
    process reads the batch in, whatever the sharding); the message counts summed and, with
    ``mean``, the messages merged over touching ranks."""
    if env.world_size == 1:
        return
    ids = torch.cat(env.all_gather_varlen(touched.long()))
    rows = torch.cat(env.all_gather_varlen(pack_memory(memory, touched, last_event)))
    merge_memory(memory, ids, rows)


def latest_events(src: Tensor, dst: Tensor, e_id: Tensor) -> tuple[Tensor, Tensor]:
    r"""The distinct endpoints of events ``(src, dst)`` and each one's latest event id."""
    touched, inv = torch.unique(torch.cat([src, dst]), return_inverse=True)
    last = torch.full((touched.numel(),), -1, dtype=torch.long).scatter_reduce_(
        0, inv, torch.cat([e_id, e_id]), "amax")
    return touched, last


def node_state_bytes(tgn: Any, scheme: Any) -> int:
    r"""Bytes of node state a rank holds: memory, message store, neighbour lists and PRES
    statistics (all rows, or the owned rows of a model whose state is stored by owner)."""
    bufs = [*tgn.memory.buffers(recurse=False), *tgn.neighbors.buffers(recurse=False),
            *(scheme.gmm.buffers(recurse=False) if scheme is not None else ())]
    return sum(b.numel() * b.element_size() for b in bufs)


def node_buffer_names(module: Any) -> list[str]:
    r"""Names of ``module``'s own buffers indexed by node (first dimension ``num_nodes``)."""
    return [k for k, b in module._buffers.items()
            if b is not None and b.dim() and b.size(0) == module.num_nodes]


def scheme_buffers(scheme: Any) -> list[Tensor]:
    r"""PRES's per-node buffers (``count`` first); empty without per-node statistics."""
    if scheme is None or scheme.gmm.num_nodes == 0:
        return []
    gmm = scheme.gmm
    bufs = [gmm._buffers[k] for k in node_buffer_names(gmm)]
    return sorted(bufs, key=lambda b: b is not gmm.count)


def merge_scheme(bufs: list[Tensor], index: Tensor, rows: Tensor, rank: Tensor) -> None:
    r"""Writes PRES rows packed on several ranks (``count`` first) for the buffer rows
    ``index``: the row with the most observations wins (ties: the higher ``rank``)."""
    if index.numel():
        nodes, idx = latest_rows(index, rows[:, 0], rank)
        unpack_rows(bufs, nodes, rows[idx])


def sync_scheme(env: DistEnv, scheme: Any, touched: Tensor) -> None:
    r"""Synchronises PRES's per-node transition statistics (the row with most observations)."""
    bufs = scheme_buffers(scheme)
    if env.world_size == 1 or not bufs:
        return  # no scheme, or one that keeps no statistics (gamma 0)
    sync_node_state(env, bufs, touched, bufs[0].to(torch.float64))
