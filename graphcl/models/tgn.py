r"""Memory-based dynamic GNNs built from shared blocks: TGN, JODIE-style and APAN-style."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.nn.memory import NodeMemory
from graphcl.nn.temporal_neighbors import RecentNeighborStore
from graphcl.nn.time_encoding import TimeEncoder, TimeProjection

EMBEDDINGS = ("attention", "time", "identity")

#: Configurations of the family, all made of the same blocks.
PRESETS: dict[str, dict] = {
    # TGN-attn (TGN paper Table 2): GRU memory, last aggregator, graph attention.
    "tgn": {"embedding": "attention", "updater": "gru", "aggregator": "last"},
    # JODIE as in the TGN code: RNN memory updater + time-projection embedding.
    "jodie": {"embedding": "time", "updater": "rnn", "aggregator": "last"},
    # APAN-style: mailbox averaged (mean aggregator), GRU state, and inference that reads only
    # the node's own state (no graph query at prediction time).
    "apan": {"embedding": "identity", "updater": "gru", "aggregator": "mean"},
}

MemoryHook = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]
QueryHook = Callable[[Tensor, Tensor, Tensor], "Tensor | None"]


class TemporalAttentionEmbedding(nn.Module):
    r"""One layer of temporal graph attention (TGAT/TGN) over each query node's :math:`k` most
    recent neighbours, computed densely on ``[Q, k]`` tensors.

    .. math::
        \mathbf{z}_i(t) = \mathrm{MLP}\Big(\mathbf{s}_i \,\|\, \mathrm{MHA}\big(
        [\mathbf{s}_i \| \phi(0)],\; \{[\mathbf{s}_j \| \mathbf{e}_{ij} \| \phi(t - t_j)]\}_{j}
        \big)\Big)

    The key/value projection of the concatenation is split into its memory, edge and time
    blocks; the memory block is applied once per *unique* node before gathering (the same
    linear map on ~10x fewer rows), and, as in PyG's ``TransformerConv`` with ``edge_dim``, one
    projection of the edge and time block is added to both keys and values.

    Args:
        memory_dim (int): Node-state dimension.
        edge_dim (int): Edge-feature dimension.
        time_enc (TimeEncoder): The (shared) time encoder.
        out_channels (int): Embedding dimension.
        heads (int, optional): Attention heads. (default: :obj:`2`)
        dropout (float, optional): Dropout on the attention weights. (default: :obj:`0.1`)
    """

    def __init__(self, memory_dim: int, edge_dim: int, time_enc: TimeEncoder,
                 out_channels: int, heads: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if out_channels % heads != 0:
            raise ValueError(f"TemporalAttentionEmbedding: out_channels={out_channels} must be "
                             f"divisible by heads={heads}")
        self.memory_dim, self.edge_dim, self.out_channels = memory_dim, edge_dim, out_channels
        self.heads, self.dropout = heads, dropout
        self.time_enc = time_enc
        t_dim = time_enc.out_channels
        self.lin_q = nn.Linear(memory_dim, out_channels)
        self.lin_q_time = nn.Linear(t_dim, out_channels, bias=False)
        self.lin_kv = nn.Linear(memory_dim, 2 * out_channels)
        self.lin_kv_time = nn.Linear(t_dim, out_channels, bias=False)
        self.lin_kv_edge = nn.Linear(edge_dim, out_channels, bias=False) if edge_dim else None
        self.lin_out = nn.Linear(out_channels, out_channels)
        self.merge = nn.Sequential(nn.Linear(out_channels + memory_dim, out_channels), nn.ReLU(),
                                   nn.Linear(out_channels, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the projections (the time encoder is reset by its owner)."""
        for m in (self.lin_q, self.lin_q_time, self.lin_kv, self.lin_kv_time, self.lin_kv_edge,
                  self.lin_out, self.merge[0], self.merge[2]):
            if m is not None:
                m.reset_parameters()

    def forward(self, mem: Tensor, pos_q: Tensor, t_q: Tensor, pos_n: Tensor, t_n: Tensor,
                e_n: Tensor, mask: Tensor, h_q: Tensor | None = None,
                alt_mem: Tensor | None = None, use_alt: Tensor | None = None) -> Tensor:
        r"""Embeddings ``[Q, out]`` of the queries.

        Args:
            mem (Tensor): States of the involved nodes ``[M, d]``.
            pos_q (Tensor): Row of each query node in ``mem`` ``[Q]``.
            t_q (Tensor): Query times ``[Q]``.
            pos_n (Tensor): Row of each neighbour in ``mem`` ``[Q, k]``.
            t_n (Tensor): Interaction times ``[Q, k]``.
            e_n (Tensor): Interaction features ``[Q, k, F]``.
            mask (Tensor): Valid neighbour slots ``[Q, k]``; rows without any attend to nothing.
            h_q (Tensor, optional): The queries' own states ``[Q, d]`` when they differ from
                ``mem[pos_q]`` (a per-query correction). (default: :obj:`None`)
            alt_mem (Tensor, optional): Other states of the involved nodes ``[M, d]``, read
                for the neighbour slots where ``use_alt`` ``[Q, k]`` holds (SEMBA's balanced
                propagation: across a negative edge a neighbour's friend and enemy memories
                swap roles). (default: :obj:`None`)
        """
        q_len, k = mask.shape
        heads, dh = self.heads, self.out_channels // self.heads
        phi0 = self.time_enc(mem.new_zeros(1))
        h_q = mem[pos_q] if h_q is None else h_q
        q = (self.lin_q(h_q) + self.lin_q_time(phi0)).view(q_len, heads, dh)
        # Time/edge projections only for filled slots (early in a stream most are empty).
        dt = (t_q.to(torch.float64).unsqueeze(1) - t_n)[mask].to(mem.dtype)
        edge_valid = self.lin_kv_time(self.time_enc(dt))
        if self.lin_kv_edge is not None:
            edge_valid = edge_valid + self.lin_kv_edge(e_n[mask].to(mem.dtype))
        edge = edge_valid.new_zeros(q_len, k, self.out_channels).index_put((mask,), edge_valid)
        kv = self.lin_kv(mem)[pos_n]
        if alt_mem is not None and use_alt is not None:
            kv = torch.where(use_alt.unsqueeze(-1), self.lin_kv(alt_mem)[pos_n], kv)
        kv = kv.view(q_len, k, 2, heads, dh)
        kv = kv + edge.view(q_len, k, 1, heads, dh)
        key, val = kv[:, :, 0], kv[:, :, 1]
        score = torch.einsum("qhd,qkhd->qhk", q, key) / math.sqrt(dh)
        score = score.masked_fill(~mask.unsqueeze(1), float("-inf"))
        attn = torch.softmax(score, dim=-1).nan_to_num(0.0)
        attn = F.dropout(attn, self.dropout, self.training)
        out = torch.einsum("qhk,qkhd->qhd", attn, val).reshape(q_len, self.out_channels)
        out = self.lin_out(out)
        return self.merge(torch.cat([out, h_q], -1))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.memory_dim}, {self.out_channels}, "
                f"edge_dim={self.edge_dim}, heads={self.heads}, dropout={self.dropout})")


class LinkDecoder(nn.Module):
    r"""The TGN link decoder: an MLP on :math:`[\mathbf{z}_i \| \mathbf{z}_j]`,
    ``Linear(2d, d) → ReLU → Linear(d, 1)``, returning logits.

    Args:
        channels (int): Embedding dimension :math:`d`.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.lin1 = nn.Linear(2 * channels, channels)
        self.lin2 = nn.Linear(channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets both layers."""
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:
        r"""Logits of shape ``z_src.shape[:-1]`` (broadcasts ``[B, 1, d]`` against ``[B, Q, d]``)."""
        z_src, z_dst = torch.broadcast_tensors(z_src, z_dst)
        return self.lin2(F.relu(self.lin1(torch.cat([z_src, z_dst], -1)))).squeeze(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"


class MemoryContext(NamedTuple):
    r"""What a batch's :meth:`TGN.embed` computed, reused by :meth:`TGN.update_state`."""

    n_id: Tensor  # sorted unique nodes whose memory was computed
    memory: Tensor  # their memory with pending messages applied (uncorrected)
    last_update: Tensor
    pending: Tensor  # which of them had pending messages


class TGN(nn.Module):
    r"""Temporal Graph Networks (`"Temporal Graph Networks for Deep Learning on Dynamic Graphs"
    <https://arxiv.org/abs/2006.10637>`_) and the memory models expressible with the same blocks:
    :class:`~graphcl.nn.memory.NodeMemory` (message store, ``last``/``mean`` aggregator,
    GRU/RNN updater), :class:`~graphcl.nn.time_encoding.TimeEncoder`, an embedding module
    (``"attention"`` over the :math:`k` most recent neighbours of a
    :class:`~graphcl.nn.temporal_neighbors.RecentNeighborStore`, ``"time"`` (JODIE
    projection) or ``"identity"``) and an MLP :class:`LinkDecoder`.

    .. math::
        p(i, j, t) = \sigma\big(\mathrm{dec}(\mathbf{z}_i(t), \mathbf{z}_j(t))\big), \qquad
        \mathbf{z}_i(t) = \mathrm{emb}\big(\hat{\mathbf{s}}, \mathcal{N}_k(i, t)\big)

    where :math:`\hat{\mathbf{s}}` is the memory with the messages stored *from earlier
    batches* applied. Use :meth:`from_preset` for ``"tgn"``, ``"jodie"`` and ``"apan"``.
    By default, as in PyG's example, the neighbours are those inserted by earlier batches;
    ``batch_neighbors=True`` also offers the current batch's events that are strictly older
    than the query (what the TGN code's neighbour finder returns), never the event itself.

    Args:
        num_nodes (int): Number of nodes.
        edge_dim (int, optional): Edge-feature dimension. (default: :obj:`0`)
        memory_dim (int, optional): Memory dimension. (default: :obj:`100`)
        time_dim (int, optional): Time-encoding dimension. (default: :obj:`100`)
        embedding_dim (int, optional): Embedding dimension (``"attention"`` only; the others
            return the memory's width). (default: :obj:`100`)
        embedding (str, optional): ``"attention"``, ``"time"`` or ``"identity"``.
            (default: :obj:`"attention"`)
        num_neighbors (int, optional): :math:`k`. (default: :obj:`10`)
        heads (int, optional): Attention heads. (default: :obj:`2`)
        dropout (float, optional): Attention dropout. (default: :obj:`0.1`)
        aggregator (str, optional): ``"last"`` or ``"mean"``. (default: :obj:`"last"`)
        updater (str, optional): ``"gru"`` or ``"rnn"``. (default: :obj:`"gru"`)
        message (str, optional): ``"identity"`` or ``"mlp"``. (default: :obj:`"identity"`)
        time_scale (float, optional): Time normaliser of the ``"time"`` embedding.
            (default: :obj:`1.0`)
        time_init (str, optional): ``"tgat"`` or ``"linear"`` time-encoder initialisation.
            (default: :obj:`"tgat"`)
        query_time (str, optional): ``"event"`` embeds every query (endpoint or negative of an
            event) at its event's time; ``"first"`` embeds each node once per batch, at the
            earliest time it is queried in the batch (never later than any event it is scored
            for, so no future information; ~2x fewer attention rows on bipartite data).
            (default: :obj:`"first"`)
        neighbor_grad (bool, optional): Back-propagate through the memory update of nodes
            that are only neighbours of the batch's queries (TGN and PyG do). ``False``
            computes the same values without autograd for them (faster).
            (default: :obj:`True`)
        batch_neighbors (bool, optional): Also attend to the current batch's events strictly
            older than each query (needs ``query_time="event"``). (default: :obj:`False`)
    """

    def __init__(
        self, num_nodes: int, edge_dim: int = 0, memory_dim: int = 100, time_dim: int = 100,
        embedding_dim: int = 100, *, embedding: str = "attention", num_neighbors: int = 10,
        heads: int = 2, dropout: float = 0.1, aggregator: str = "last", updater: str = "gru",
        message: str = "identity", time_scale: float = 1.0, time_init: str = "tgat",
        query_time: str = "first", neighbor_grad: bool = True, batch_neighbors: bool = False,
    ) -> None:
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"TGN: embedding must be one of {EMBEDDINGS}, got {embedding!r}")
        if query_time not in ("event", "first"):
            raise ValueError(f"TGN: query_time must be 'event' or 'first', got {query_time!r}")
        self.num_nodes, self.edge_dim, self.embedding = int(num_nodes), int(edge_dim), embedding
        if batch_neighbors and query_time != "event":
            raise ValueError("TGN: batch_neighbors=True needs query_time='event' (each query "
                             "must see only the batch events older than itself)")
        self.query_time, self.neighbor_grad = query_time, neighbor_grad
        self.batch_neighbors = batch_neighbors
        self.time_enc = TimeEncoder(time_dim, init=time_init)
        self.memory = NodeMemory(num_nodes, memory_dim, time_dim, edge_dim, message=message,
                                 aggregator=aggregator, updater=updater,
                                 time_encoder=self.time_enc)
        self.neighbors = RecentNeighborStore(num_nodes, num_neighbors, edge_dim)
        self.embed_module: nn.Module | None
        if embedding == "attention":
            self.embed_module = TemporalAttentionEmbedding(
                memory_dim, edge_dim, self.time_enc, embedding_dim, heads, dropout)
            out = embedding_dim
        elif embedding == "time":
            self.embed_module = TimeProjection(memory_dim, time_scale)
            out = memory_dim
        else:
            self.embed_module = None
            out = memory_dim
        self.out_channels = out
        self.decoder = LinkDecoder(out)
        self.reset_parameters()

    @classmethod
    def from_preset(cls, preset: str, num_nodes: int, edge_dim: int = 0, **kwargs) -> TGN:
        r"""Builds ``"tgn"``, ``"jodie"`` or ``"apan"`` (see :data:`PRESETS`); ``kwargs``
        override the preset."""
        if preset not in PRESETS:
            raise ValueError(f"TGN.from_preset: unknown preset {preset!r}; choose from "
                             f"{sorted(PRESETS)}")
        return cls(num_nodes, edge_dim, **{**PRESETS[preset], **kwargs})

    def reset_parameters(self) -> None:
        r"""Resets all parameters and the temporal state."""
        self.memory.reset_parameters()
        if self.embed_module is not None:
            self.embed_module.reset_parameters()
        self.decoder.reset_parameters()
        self.reset_state()

    def reset_state(self) -> None:
        r"""Empties memory, message store and neighbour store (start of every epoch)."""
        self.memory.reset_state()
        self.neighbors.reset_state()

    def detach(self) -> None:
        r"""Cuts the memory from the graph (no BPTT across batches)."""
        self.memory.detach()

    def transient_state_names(self) -> set[str]:
        r"""Buffers reset at every epoch start: memory, message store, neighbour store."""
        return {f"{prefix}.{name}" for prefix, module in
                (("memory", self.memory), ("neighbors", self.neighbors))
                for name, _ in module.named_buffers(recurse=False)}

    def state_backup(self) -> dict[str, dict[str, Tensor]]:
        r"""A copy of memory, pending messages and neighbour store."""
        return {"memory": self.memory.state_backup(),
                "neighbors": self.neighbors.state_backup()}

    def state_restore(self, backup: dict[str, dict[str, Tensor]]) -> None:
        r"""Restores a copy made by :meth:`state_backup`."""
        self.memory.state_restore(backup["memory"])
        self.neighbors.state_restore(backup["neighbors"])

    @staticmethod
    def _older_in_batch(nodes: Tensor, t_q: Tensor, src: Tensor, dst: Tensor, t: Tensor,
                        ) -> tuple[Tensor, Tensor, Tensor]:
        r"""The current batch's endpoint entries (``src`` then ``dst``) sorted by (node, time),
        and for each query the end of its node's entries strictly older than its time and
        their count: ``(order, end, count)`` (one sort, then searches)."""
        ent_node, ent_t = torch.cat([src, dst]), torch.cat([t, t]).to(torch.float64)
        times = torch.unique(ent_t)
        m = times.numel() + 1
        key, order = torch.sort(ent_node * m + torch.searchsorted(times, ent_t))
        older = torch.searchsorted(times, t_q.to(torch.float64))  # batch times < t_q
        end = torch.searchsorted(key, nodes * m + older)
        return order, end, end - torch.searchsorted(key, nodes * m)

    def _batch_neighbors(self, nodes: Tensor, t_q: Tensor, batch: tuple[Tensor, ...],
                         older: tuple[Tensor, Tensor, Tensor] | None = None,
                         ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""The :math:`k` most recent events of the current batch strictly older than each
        query, as ``[Q, k]`` tensors (``older``: :meth:`_older_in_batch`'s answer, if known)."""
        src, dst, t, msg = batch
        k = self.neighbors.size
        ent_nbr = torch.cat([dst, src])
        ent_t = torch.cat([t, t]).to(torch.float64)
        ent_feat = torch.cat([msg, msg]).to(self.neighbors.feats.dtype)
        order, end, count = older or self._older_in_batch(nodes, t_q, src, dst, t)
        j = torch.arange(k, device=nodes.device)
        idx = order[(end.unsqueeze(1) - 1 - j).clamp(min=0)]
        return ent_nbr[idx], ent_t[idx], ent_feat[idx], j < count.unsqueeze(1)

    def embed(self, nodes: Tensor, t: Tensor, *, memory_hook: MemoryHook | None = None,
              batch_nodes: Tensor | None = None, batch: tuple[Tensor, ...] | None = None,
              query_hook: QueryHook | None = None) -> tuple[Tensor, MemoryContext]:
        r"""Embeddings of ``nodes`` [Q] at times ``t`` [Q] from the memory with the previously
        stored messages applied; nothing is written.

        Args:
            nodes (Tensor): Query nodes ``[Q]``.
            t (Tensor): Query times ``[Q]``.
            memory_hook (callable, optional): ``hook(n_id, s_prev, s_hat, pending,
                batch_nodes) -> s_use``, e.g. PRES's prediction-correction.
                (default: :obj:`None`)
            batch_nodes (Tensor, optional): Sorted unique endpoints of the batch's events,
                given to the hook. (default: :obj:`None` = unique ``nodes``)
            batch (tuple, optional): ``(src, dst, t, msg)`` of the current batch, for
                ``batch_neighbors`` and ``query_hook``. (default: :obj:`None`)
            query_hook (callable, optional): ``hook(nodes, pending, h) -> delta | None``: given
                each query's node, its number of *pending events* (the current batch's events
                of that node strictly older than the query, which its memory has not seen) and
                its memory ``h`` ``[Q, D]``, an additive correction of the query's own memory
                (e.g. PRES's intra-batch prediction). Needs ``batch``. (default: :obj:`None`)
        """
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= self.num_nodes):
            raise ValueError(f"TGN.embed: node ids must be in [0, {self.num_nodes})")
        older = None  # the batch's events older than each query: one sort, shared
        if batch is not None and (query_hook is not None or (
                self.batch_neighbors and self.embedding == "attention")):
            older = self._older_in_batch(nodes, t, *batch[:3])
        if self.embedding == "attention":
            nbr, nbr_t, nbr_e, mask = self.neighbors(nodes)
            if self.batch_neighbors and batch is not None:
                b_nbr, b_t, b_e, b_mask = self._batch_neighbors(nodes, t, batch, older)
                all_t = torch.cat([nbr_t, b_t], 1).masked_fill(
                    ~torch.cat([mask, b_mask], 1), float("-inf"))
                sel = all_t.topk(self.neighbors.size, dim=1).indices
                nbr = torch.cat([nbr, b_nbr], 1).gather(1, sel)
                nbr_t = torch.cat([nbr_t, b_t], 1).gather(1, sel)
                nbr_e = torch.cat([nbr_e, b_e], 1).gather(
                    1, sel.unsqueeze(-1).expand(-1, -1, nbr_e.size(-1)))
                mask = torch.cat([mask, b_mask], 1).gather(1, sel)
            n_id = torch.unique(torch.cat([nodes, nbr[mask]]))
        else:
            n_id = torch.unique(nodes)
        grad_mask = None if self.neighbor_grad else torch.isin(n_id, nodes)
        mem, last, pending = self.memory(n_id, grad_mask)
        ctx = MemoryContext(n_id, mem, last, pending)
        if memory_hook is not None:
            bn = torch.unique(nodes) if batch_nodes is None else batch_nodes
            mem = memory_hook(n_id, self.memory.memory[n_id], mem, pending, bn)
        pos = torch.searchsorted(n_id, nodes)
        h_q = None
        if query_hook is not None and older is not None:
            h_q = mem[pos]
            delta = query_hook(nodes, older[2], h_q)
            if delta is not None:
                h_q = h_q + delta
        if self.embedding == "attention":
            # masked slots may hold nodes outside n_id (a shard's context events): clamped,
            # never read
            pos_n = torch.searchsorted(n_id, nbr).clamp(max=n_id.numel() - 1)
            z = self.embed_module(mem, pos, t, pos_n, nbr_t, nbr_e, mask, h_q=h_q)
        elif self.embedding == "time":
            z = self.embed_module(mem[pos] if h_q is None else h_q,
                                  t.to(torch.float64) - last[pos])
        else:
            z = mem[pos] if h_q is None else h_q
        return z, ctx

    def update_state(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None,
                     ctx: MemoryContext | None = None, e_id: Tensor | None = None) -> None:
        r"""After scoring a batch: persists the updated memory of its nodes, stores its
        messages and adds its events to the neighbour store."""
        if ctx is None:
            self.memory.update_state(src, dst, t, msg)
        else:
            self.memory.update_state(src, dst, t, msg, n_id=ctx.n_id, memory=ctx.memory,
                                     last_update=ctx.last_update)
        self.neighbors.insert(src, dst, t, msg, e_id)

    def forward(self, src: Tensor, dst: Tensor, t: Tensor, neg_dst: Tensor | None = None, *,
                msg: Tensor | None = None, memory_hook: MemoryHook | None = None,
                batch_context: tuple[Tensor, ...] | None = None,
                ) -> tuple[Tensor, Tensor | None, MemoryContext]:
        r"""Scores a batch: logits of ``(src, dst)`` ``[B]`` and of ``(src, neg_dst)``
        (``neg_dst`` of shape ``[B]`` or ``[B, Q]`` → ``[B]`` / ``[B, Q]``). ``msg`` (the
        batch's edge features) is only read by ``batch_neighbors``. A ``memory_hook`` that
        also has a method ``adjust_queries`` (:data:`QueryHook`) gets each event query's
        pending-event count (``query_time="event"`` only: with ``"first"`` a node's one query
        precedes all its batch events). Call :meth:`update_state` with the returned context
        afterwards.

        ``batch_context`` ``(src, dst, t, msg[, neg_dst])``: the whole batch when this call
        scores a part of it (a data-parallel shard, :mod:`graphcl.distributed`); its endpoints
        are the memory hook's batch nodes, its events the queries' batch neighbours and
        pending events and, with its negatives, its queries set the time at which
        ``query_time="first"`` embeds a node (its first query in the whole batch), so a
        shard's scores equal those of the whole batch. Context ids not among the shard's
        queries may lie outside ``[0, num_nodes)`` (they are only compared)."""
        b = src.numel()
        parts, times = [src, dst], [t, t]
        if neg_dst is not None:
            parts.append(neg_dst.reshape(-1))
            times.append(t.repeat_interleave(neg_dst.numel() // max(b, 1)))
        ctx_src, ctx_dst, ctx_t, ctx_msg = (batch_context[:4] if batch_context is not None
                                            else (src, dst, t, msg))
        batch_nodes = torch.unique(torch.cat([ctx_src, ctx_dst]))
        query_hook = getattr(memory_hook, "adjust_queries", None)
        nodes, times_q = torch.cat(parts), torch.cat(times)
        if self.query_time == "first":
            uniq, inv = torch.unique(nodes, return_inverse=True)
            t_first = torch.full((uniq.numel(),), float("inf"), dtype=torch.float64,
                                 device=nodes.device)
            t_first.scatter_reduce_(0, inv, times_q.to(torch.float64), "amin")
            if batch_context is not None and len(batch_context) > 4:  # the batch's first times
                c_neg = batch_context[4].reshape(-1)
                c_nodes = torch.cat([ctx_src, ctx_dst, c_neg])
                c_t = torch.cat([ctx_t, ctx_t, ctx_t.repeat_interleave(
                    c_neg.numel() // max(ctx_src.numel(), 1))]).to(torch.float64)
                c_uniq, c_inv = torch.unique(c_nodes, return_inverse=True)
                c_first = torch.full((c_uniq.numel(),), float("inf"), dtype=torch.float64,
                                     device=nodes.device).scatter_reduce_(0, c_inv, c_t, "amin")
                t_first = torch.minimum(t_first, c_first[
                    torch.searchsorted(c_uniq, uniq).clamp(max=c_uniq.numel() - 1)])
            z, ctx = self.embed(uniq, t_first, memory_hook=memory_hook, batch_nodes=batch_nodes)
            z = z[inv]
        else:
            batch = None
            if self.batch_neighbors or query_hook is not None:
                feat = ctx_msg if ctx_msg is not None else self.neighbors.feats.new_zeros(
                    ctx_src.numel(), self.edge_dim)
                batch = (ctx_src, ctx_dst, ctx_t, feat)
            z, ctx = self.embed(nodes, times_q, memory_hook=memory_hook, batch_nodes=batch_nodes,
                                batch=batch, query_hook=query_hook)
        z_src, z_dst = z[:b], z[b:2 * b]
        pos = self.decoder(z_src, z_dst)
        neg = None
        if neg_dst is not None:
            z_neg = z[2 * b:]
            if neg_dst.dim() == 2:
                neg = self.decoder(z_src.unsqueeze(1), z_neg.view(b, neg_dst.size(1), -1))
            else:
                neg = self.decoder(z_src, z_neg)
        return pos, neg, ctx

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"embedding={self.embedding!r}, memory={self.memory}, "
                f"neighbors={self.neighbors.size}, out_channels={self.out_channels})")
