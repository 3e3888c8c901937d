r"""NAT: temporal link prediction from joined neighbourhood caches."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.nn.memory import _check_events
from graphcl.nn.neighborhood_cache import CacheRead, NeighborhoodCache, last_occurrence
from graphcl.nn.time_encoding import TimeEncoder

POOLINGS = ("sum", "attention")
TIME_MODES = ("absolute", "relative")


class NATContext(NamedTuple):
    r"""What a batch's :meth:`NAT.forward` computed for the write-back."""

    read_src: CacheRead  # entries of the sources, values refreshed (detached)
    read_dst: CacheRead
    self_src: Tensor  # updated self representations of the sources (detached)
    self_dst: Tensor


class NAT(nn.Module):
    r"""NAT (`"Neighborhood-aware Scalable Temporal Network Representation Learning"
    <https://arxiv.org/abs/2209.01084>`_, Luo & Li, LoG 2022).

    Every node keeps a self representation :math:`\mathbf{s}_u`, the record
    :math:`(w_u, e_u, \tau_u)` of its last event and its
    :class:`~graphcl.nn.neighborhood_cache.NeighborhoodCache` of 1- and 2-hop neighbours. A pair
    :math:`(u, v)` at time :math:`t` is scored from the state *before* its batch:

    .. math::
        \hat{\mathbf{s}}_x &= \mathrm{GRU}_s\big(W_s[\mathbf{s}_{w_x} \| \mathbf{x}_{e_x} \|
            \phi(\tau_x)], \mathbf{s}_x\big), \qquad
        \hat{\mathbf{h}} = \mathrm{GRU}_n\big(W_n[\mathbf{s}_a \| \mathbf{x}_e \| \phi(\tau)],
            \mathbf{h}\big) \text{ per cache entry } (a, e, \tau, \mathbf{h}), \\
        \mathbf{z}_{uv} &= \mathrm{pool}_{a \in K_u \cup K_v}\big[\textstyle\sum \mathbf{x}_a
            \,\|\, \sum \hat{\mathbf{h}} \,\|\, \mathrm{Emb}(\mathrm{code}_a)\big], \qquad
        p(u, v) = \sigma\big(\mathrm{MLP}[\mathbf{z}_{uv} \| \hat{\mathbf{s}}_u \|
            \hat{\mathbf{s}}_v]\big),

    where the sums run over the occurrences of key :math:`a` in the two nodes' caches and
    :math:`\mathrm{code}_a` is a 6-bit mask of the hops at which :math:`a` occurs for
    :math:`u` (bits 0-2) and for :math:`v` (bits 3-5): a common 1-hop neighbour has bits 1 and 4.
    ``pooling="sum"`` is the released code's (its "GAT" layer sums linear projections, the
    attention lines commented out; heads then only reparametrise one linear map);
    ``"attention"`` weights the keys by a per-head softmax. After the batch
    (:meth:`update_state`, positives only, detached) the self representations and records are
    written and the caches updated (:meth:`NeighborhoodCache.update`), so a batch never sees its
    own events.

    ``time_encoding="absolute"`` encodes the stored timestamps as the released code does;
    ``"relative"`` encodes the elapsed time :math:`(t - \tau) / \text{time\_scale}` instead.

    Args:
        num_nodes (int): Number of nodes.
        edge_features (Tensor, optional): ``[E, d_e]`` features of every event, looked up by
            event id (``e_id`` of :meth:`update_state`). (default: none)
        node_features (Tensor, optional): ``[N, d_n]``. (default: none)
        self_dim (int, optional): :math:`F_s`. (default: ``72``)
        ngh_dim (int, optional): :math:`F`, the cache value width. (default: ``4``)
        sizes (sequence of int, optional): cache sizes :math:`M_1, M_2` (one per hop kept).
            (default: ``(32, 16)``)
        pos_dim (int, optional): Width of the hop-code embedding. (default: ``16``)
        time_dim (int, optional): Width of the time encoding. (default: ``1``)
        join_dim (int, optional): Width of the pooled joint feature (the released code ties it
            to the node-feature width, 1 on SNAP data). (default: ``64``)
        pooling (str, optional): ``"sum"`` or ``"attention"``. (default: ``"sum"``)
        heads (int, optional): Attention heads. (default: ``2``)
        dropout (float, optional): Dropout on the joint feature. (default: ``0.1``)
        replace_prob (float, optional): :math:`\alpha` of the caches. (default: ``0.9``)
        seed (int, optional): Seed of the caches' hash and draws. (default: ``0``)
        time_encoding (str, optional): ``"absolute"`` or ``"relative"``.
            (default: ``"relative"``)
        time_scale (float, optional): Divides elapsed times (``"relative"``). (default: ``1``)
    """

    def __init__(
        self, num_nodes: int, edge_features: Tensor | None = None,
        node_features: Tensor | None = None, *, self_dim: int = 72, ngh_dim: int = 4,
        sizes: tuple[int, ...] | list[int] = (32, 16), pos_dim: int = 16, time_dim: int = 1,
        join_dim: int = 64, pooling: str = "sum", heads: int = 2, dropout: float = 0.1,
        replace_prob: float = 0.9, seed: int = 0, time_encoding: str = "relative",
        time_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"NAT: pooling must be one of {POOLINGS}, got {pooling!r}")
        if time_encoding not in TIME_MODES:
            raise ValueError(f"NAT: time_encoding must be one of {TIME_MODES}, got {time_encoding!r}")
        if len(sizes) > 2:
            raise ValueError(f"NAT: at most 2 hops (sizes M1, M2), got sizes={list(sizes)}")
        if not time_scale > 0:
            raise ValueError(f"NAT: time_scale must be > 0, got {time_scale}")
        self.num_nodes = int(num_nodes)
        ef = torch.zeros(1, 0) if edge_features is None else edge_features.float()
        nf = torch.zeros(num_nodes, 0) if node_features is None else node_features.float()
        if ef.dim() != 2 or nf.dim() != 2 or nf.size(0) != num_nodes:
            raise ValueError(f"NAT: edge_features must be [E, d_e] and node_features "
                             f"[{num_nodes}, d_n], got {list(ef.shape)} and {list(nf.shape)}")
        # Data, not state: rebuilt from the dataset, kept out of checkpoints.
        self.register_buffer("edge_feat", ef, persistent=False)
        self.register_buffer("node_feat", nf, persistent=False)
        self.self_dim, self.ngh_dim, self.pos_dim = int(self_dim), int(ngh_dim), int(pos_dim)
        self.pooling, self.heads, self.join_dim = pooling, int(heads), int(join_dim)
        self.time_encoding, self.time_scale = time_encoding, float(time_scale)
        self.cache = NeighborhoodCache(num_nodes, sizes, ngh_dim, replace_prob, seed)
        self.time_enc = TimeEncoder(time_dim)
        in_dim = self.self_dim + ef.size(1) + time_dim
        self.self_in = nn.Linear(in_dim, self.self_dim, bias=False)
        self.self_gru = nn.GRUCell(self.self_dim, self.self_dim)
        self.ngh_in = nn.Linear(in_dim, self.ngh_dim, bias=False)
        self.ngh_gru = nn.GRUCell(self.ngh_dim, self.ngh_dim)
        self.code_emb = nn.Embedding(64, self.pos_dim)
        feat_dim = nf.size(1) + self.ngh_dim + self.pos_dim
        self.feat_dim = feat_dim
        if pooling == "sum":
            self.project = nn.Linear(feat_dim, join_dim)
        else:
            self.project = nn.Linear(feat_dim, join_dim * heads)
            self.attend = nn.Parameter(torch.empty(heads, join_dim))
        self.dropout = nn.Dropout(dropout)
        d = join_dim + 2 * self.self_dim
        self.score = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        n = self.num_nodes
        self.register_buffer("self_rep", torch.zeros(n, self.self_dim))
        self.register_buffer("rec_partner", torch.full((n,), -1, dtype=torch.long))
        self.register_buffer("rec_eid", torch.full((n,), -1, dtype=torch.long))
        self.register_buffer("rec_time", torch.zeros(n, dtype=torch.float64))
        self.reset_parameters()

    STATE = ("self_rep", "rec_partner", "rec_eid", "rec_time")

    def reset_parameters(self) -> None:
        r"""Resets all parameters and the state."""
        self.time_enc.reset_parameters()
        for m in (self.self_in, self.self_gru, self.ngh_in, self.ngh_gru, self.code_emb,
                  self.project):
            m.reset_parameters()
        if self.pooling == "attention":
            nn.init.xavier_uniform_(self.attend)
        for m in self.score:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
        self.reset_state()

    def reset_state(self) -> None:
        r"""Empties the caches, self representations and records (start of every epoch)."""
        self.cache.reset_state()
        self.self_rep.zero_()
        self.rec_partner.fill_(-1)
        self.rec_eid.fill_(-1)
        self.rec_time.zero_()

    def detach(self) -> None:
        r"""The state is written detached; kept for the memory-model API."""

    def state_backup(self) -> dict[str, Tensor]:
        r"""A copy of the caches, self representations and records."""
        out = {k: getattr(self, k).clone() for k in self.STATE}
        out.update({f"cache.{k}": v for k, v in self.cache.state_backup().items()})
        return out

    def state_restore(self, backup: dict[str, Tensor]) -> None:
        for k in self.STATE:
            getattr(self, k).copy_(backup[k])
        self.cache.state_restore({k[6:]: v for k, v in backup.items() if k.startswith("cache.")})

    def transient_state_names(self) -> set[str]:
        r"""Buffers reset at every epoch start (need not be in per-epoch checkpoints)."""
        return {*self.STATE, *(f"cache.{k}" for k in NeighborhoodCache.STATE)}

    def state_nbytes(self) -> int:
        r"""Bytes of temporal state: caches + self representations + records."""
        return self.cache.nbytes() + sum(getattr(self, k).nbytes for k in self.STATE)

    # ----------------------------------------------------------------- the forward pass
    def _time(self, tau: Tensor, t_query: Tensor) -> Tensor:
        if self.time_encoding == "absolute":
            return self.time_enc(tau.float())
        return self.time_enc(((t_query.to(torch.float64) - tau) / self.time_scale).float())

    def _gru_input(self, other: Tensor, eid: Tensor, enc: Tensor) -> Tensor:
        return torch.cat([self.self_rep[other], self.edge_feat[eid], enc], -1)

    def updated_self(self, nodes: Tensor, t: Tensor) -> Tensor:
        r"""Step 1: the self representations of ``nodes`` [R] at times ``t`` with their last
        recorded event applied (lazily, as in the released code; nodes without events keep
        theirs)."""
        s = self.self_rep[nodes]
        eid = self.rec_eid[nodes]
        rows = (eid >= 0).nonzero().view(-1)
        if rows.numel() == 0:
            return s
        n = nodes[rows]
        x = self._gru_input(self.rec_partner[n], eid[rows], self._time(self.rec_time[n], t[rows]))
        return s.index_put((rows,), self.self_gru(self.self_in(x), s[rows]))

    def refreshed(self, nodes: Tensor, t: Tensor) -> CacheRead:
        r"""Step 2: the cache entries of ``nodes`` [R] with every occupied value refreshed by
        its key's current self representation (zero where the slot holds no event)."""
        rd = self.cache.read(nodes)
        r, c = (rd.eid >= 0).nonzero(as_tuple=True)
        value = torch.zeros_like(rd.value)
        if r.numel():
            x = self._gru_input(rd.key[r, c], rd.eid[r, c], self._time(rd.time[r, c], t[r]))
            value = value.index_put((r, c), self.ngh_gru(self.ngh_in(x), rd.value[r, c]))
        return rd._replace(value=value)

    def join(self, key_u: Tensor, h_u: Tensor, key_v: Tensor, h_v: Tensor) -> Tensor:
        r"""Step 3-4: the pooled joint neighbourhood feature of pairs, from the keys ``[P, S]``
        and refreshed values ``[P, S, F]`` of both sides; ``[P, join_dim]``."""
        p, s = key_u.shape
        hop = self.cache.slot_hop
        codes = torch.cat([2 ** hop, 2 ** (hop + 3)])
        keys = torch.cat([key_u, key_v], 1)
        sk, order = keys.sort(1)
        new = torch.ones_like(sk, dtype=torch.bool)
        new[:, 1:] = sk[:, 1:] != sk[:, :-1]
        group = new.cumsum(1) - 1 + torch.arange(p, device=keys.device).unsqueeze(1) * (2 * s)
        group = group.view(-1)
        code = torch.zeros(p * 2 * s, dtype=torch.long, device=keys.device)
        code.scatter_add_(0, group, codes[order].view(-1))
        gkey = torch.full_like(code, -1).scatter_(0, group, sk.view(-1))
        valid = gkey >= 0
        if self.pooling == "sum":
            # Sum pooling is linear: the sum over keys of [x | h | Emb(code)] is the sum of
            # the node features of the keys, of all refreshed values and a code histogram.
            pair = torch.arange(p * 2 * s, device=keys.device) // (2 * s)
            hist = torch.zeros(p * 64, device=keys.device)
            hist.index_add_(0, (pair * 64 + code)[valid], torch.ones(int(valid.sum()),
                                                                        device=keys.device))
            parts = []
            if self.node_feat.size(1):
                nf = torch.zeros(p * 2 * s, self.node_feat.size(1), device=keys.device)
                nf[valid] = self.node_feat[gkey[valid]]
                parts.append(nf.view(p, 2 * s, -1).sum(1))
            parts += [h_u.sum(1) + h_v.sum(1), hist.view(p, 64) @ self.code_emb.weight]
            return self.dropout(self.project(self.dropout(torch.cat(parts, -1))))
        h = torch.cat([h_u, h_v], 1)
        hsum = torch.zeros(p * 2 * s, self.ngh_dim, device=keys.device)
        hsum.index_add_(0, group, h.gather(1, order.unsqueeze(-1).expand_as(h)).reshape(-1,
                                                                                  self.ngh_dim))
        parts = []
        if self.node_feat.size(1):
            parts.append(self.node_feat[gkey.clamp(min=0)])
        feat = torch.cat([*parts, hsum, self.code_emb(code.clamp(max=63))], -1)
        proj = self.project(self.dropout(feat)).view(p, 2 * s, self.heads, self.join_dim)
        logit = (torch.tanh(proj) * self.attend).sum(-1)  # [P, 2S, heads]
        logit = logit.masked_fill(~valid.view(p, 2 * s, 1), float("-inf"))
        att = torch.softmax(logit, 1).nan_to_num(0.0)
        z = (att.unsqueeze(-1) * proj).sum(1).mean(1)
        return self.dropout(z)

    def forward(self, src: Tensor, dst: Tensor, t: Tensor, neg_dst: Tensor | None = None, *,
                msg: Tensor | None = None, memory_hook=None,
                ) -> tuple[Tensor, Tensor | None, NATContext]:
        r"""Scores a batch: logits of ``(src, dst)`` ``[B]`` and of ``(src, neg_dst)``
        (``neg_dst`` ``[B]`` or ``[B, Q]``) from the state before the batch. Call
        :meth:`update_state` with the returned context afterwards. ``msg`` is unused (edge
        features are looked up by event id)."""
        if memory_hook is not None:
            raise ValueError("NAT: memory hooks (PRES) apply to TGN-family memories only")
        b = src.numel()
        q = 0 if neg_dst is None else (1 if neg_dst.dim() == 1 else neg_dst.size(1))
        nodes = torch.cat([src, dst] + ([] if neg_dst is None else [neg_dst.reshape(-1)]))
        times = torch.cat([t, t, t.repeat_interleave(q)])
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= self.num_nodes):
            raise ValueError(f"NAT: node ids must be in [0, {self.num_nodes})")
        s_hat = self.updated_self(nodes, times)
        rd = self.refreshed(nodes, times)
        s_u = s_hat[:b]
        pos = self._score(rd.key[:b], rd.value[:b], rd.key[b:2 * b], rd.value[b:2 * b],
                          s_u, s_hat[b:2 * b])
        neg = None
        if q:
            rep = torch.arange(b, device=src.device).repeat_interleave(q)
            sl = slice(2 * b, None)
            neg = self._score(rd.key[rep], rd.value[rep], rd.key[sl], rd.value[sl], s_u[rep],
                              s_hat[sl])
            neg = neg.view(b, q) if neg_dst.dim() == 2 else neg
        ctx = NATContext(_rows(rd, slice(0, b)), _rows(rd, slice(b, 2 * b)),
                         s_u.detach(), s_hat[b:2 * b].detach())
        return pos, neg, ctx

    def _score(self, ku: Tensor, hu: Tensor, kv: Tensor, hv: Tensor, su: Tensor,
               sv: Tensor) -> Tensor:
        z = self.join(ku, hu, kv, hv)
        return self.score(torch.cat([z, su, sv], -1)).squeeze(-1)

    @torch.no_grad()
    def update_state(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None,
                     ctx: NATContext | None = None, e_id: Tensor | None = None) -> None:
        r"""Writes a batch of positive events (chronological) after it was scored: self
        representations, records (the latest event of a node wins) and caches. ``e_id``
        indexes ``edge_features`` (default: zeros, only without edge features)."""
        _check_events("NAT.update_state", self.num_nodes, src, dst, t)
        b = src.numel()
        if b == 0:
            return
        if e_id is None:
            if self.edge_feat.size(1):
                raise ValueError("NAT.update_state: e_id is required with edge features")
            e_id = torch.zeros_like(src)
        if ctx is None:
            nodes, times = torch.cat([src, dst]), torch.cat([t, t])
            s_hat, rd = self.updated_self(nodes, times), self.refreshed(nodes, times)
            ctx = NATContext(_rows(rd, slice(0, b)), _rows(rd, slice(b, 2 * b)),
                             s_hat[:b], s_hat[b:])
        # Interleave (src_i, dst_i) so the latest event of each node is its last occurrence.
        nodes = torch.stack([src, dst], 1).view(-1)
        last = last_occurrence(nodes)
        n = nodes[last]
        self.self_rep[n] = torch.stack([ctx.self_src, ctx.self_dst], 1).view(
            -1, self.self_dim)[last]
        self.rec_partner[n] = torch.stack([dst, src], 1).view(-1)[last]
        self.rec_eid[n] = e_id.repeat_interleave(2)[last]
        self.rec_time[n] = t.to(torch.float64).repeat_interleave(2)[last]
        self.cache.update(src, dst, e_id, t, ctx.read_src, ctx.read_dst)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"self_dim={self.self_dim}, ngh_dim={self.ngh_dim}, sizes={self.cache.sizes}, "
                f"pooling={self.pooling!r}, time_encoding={self.time_encoding!r})")


def _rows(rd: CacheRead, sl: slice) -> CacheRead:
    return CacheRead(rd.key[sl], rd.eid[sl], rd.time[sl], rd.value[sl].detach())
