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
            to the node-feature width, 1 on SNAP data). (default: ``16``)
        pooling (str, optional): ``"sum"`` or ``"attention"``. (default: ``"sum"``)
        heads (int, optional): Attention heads. (default: ``2``)
        dropout (float, optional): Dropout on the joint feature. (default: ``0.1``)
        replace_prob (float, optional): :math:`\alpha` of the caches. (default: ``0.9``)
        seed (int, optional): Seed of the caches' hash and draws. (default: ``0``)
        time_encoding (str, optional): ``"absolute"`` or ``"relative"``.
            (default: ``"absolute"``)
        time_scale (float, optional): Divides elapsed times (``"relative"``). (default: ``1``)
    """

    def __init__(
        self, num_nodes: int, edge_features: Tensor | None = None,
        node_features: Tensor | None = None, *, self_dim: int = 72, ngh_dim: int = 4,
        sizes: tuple[int, ...] | list[int] = (32, 16), pos_dim: int = 16, time_dim: int = 1,
        join_dim: int = 16, pooling: str = "sum", heads: int = 2, dropout: float = 0.1,
        replace_prob: float = 0.9, seed: int = 0, time_encoding: str = "absolute",
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
        self.register_buffer("hop_bits", 1 << torch.arange(self.cache.num_hops + 1),
                             persistent=False)
        # per slot: the bits of the hops below its own
        self.register_buffer("lower_hops", (1 << self.cache.slot_hop) - 1, persistent=False)
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
        if self.time_encoding == "absolute":  # in float64: Unix times need 1 s resolution
            enc = self.time_enc
            return torch.cos(tau.unsqueeze(-1) * enc.weight.double() + enc.bias.double()).float()
        return self.time_enc(((t_query.to(torch.float64) - tau) / self.time_scale).float())

    def _gru_input(self, other: Tensor, eid: Tensor, enc: Tensor) -> Tensor:
        parts = [self.self_rep.index_select(0, other), enc]
        if self.edge_feat.size(1):
            parts.insert(1, self.edge_feat.index_select(0, eid))
        return torch.cat(parts, -1)

    def updated_self(self, nodes: Tensor, t: Tensor) -> Tensor:
        r"""Step 1: the self representations of ``nodes`` [R] at times ``t`` with their last
        recorded event applied (lazily, as in the released code; nodes without events keep
        theirs)."""
        s = self.self_rep.index_select(0, nodes)
        eid = self.rec_eid.index_select(0, nodes)
        has = (eid >= 0).unsqueeze(1)
        x = self._gru_input(self.rec_partner.index_select(0, nodes).clamp(min=0),
                            eid.clamp(min=0),
                            self._time(self.rec_time.index_select(0, nodes), t))
        return torch.where(has, self.self_gru(self.self_in(x), s), s)

    def refreshed(self, nodes: Tensor, t: Tensor) -> tuple[CacheRead, Tensor, Tensor, Tensor]:
        r"""Step 2: the cache entries of ``nodes`` [R] at times ``t`` with every occupied
        value refreshed by its key's current self representation. Returns the read with the
        refreshed values (detached; zero where the slot holds no event) and the occupied
        entries ``(row, flat index into [R * S], value)``, ``value`` ``[V, F]`` differentiable."""
        rd = self.cache.read(nodes)
        s = rd.key.size(1)
        flat = (rd.eid.view(-1) >= 0).nonzero().view(-1)
        row = torch.div(flat, s, rounding_mode="floor")
        # GRU_n(W_n x, h) with W_ih W_n folded: the self-representation part is projected
        # once per node (all nodes, or the keys present when the graph is larger).
        w_ih = self.ngh_gru.weight_ih @ self.ngh_in.weight  # [3F, in_dim]
        fs, fe = self.self_dim, self.edge_feat.size(1)
        key = rd.key.view(-1).index_select(0, flat)
        eid = rd.eid.view(-1).index_select(0, flat)
        if self.num_nodes <= key.numel():
            gi = F.embedding(key, self.self_rep @ w_ih[:, :fs].t())
        else:
            uniq, inv = torch.unique(key, return_inverse=True)
            gi = F.embedding(inv, self.self_rep[uniq] @ w_ih[:, :fs].t())
        if fe:
            gi = gi + self.edge_feat.index_select(0, eid) @ w_ih[:, fs:fs + fe].t()
        enc = self._time(rd.time.view(-1).index_select(0, flat), t.index_select(0, row))
        gi = gi + _thin_mm(enc, w_ih[:, fs + fe:]) + self.ngh_gru.bias_ih
        h = rd.value.view(-1, self.ngh_dim).index_select(0, flat)
        gh = F.linear(h, self.ngh_gru.weight_hh, self.ngh_gru.bias_hh)
        f = self.ngh_dim
        rz = torch.sigmoid(gi[:, :2 * f] + gh[:, :2 * f])
        n = torch.tanh(gi[:, 2 * f:] + rz[:, :f] * gh[:, 2 * f:])
        value = n + rz[:, f:] * (h - n)
        full = torch.zeros_like(rd.value)
        full.view(-1, self.ngh_dim).index_copy_(0, flat, value.detach())
        return rd._replace(value=full), row, flat, value

    def _membership(self, target: Tensor, cols: Tensor, keys: Tensor) -> Tensor:
        r"""``bits[p, s] = sum_j 2^j [keys[p, s] is in hop j of the cache row target[p]]``,
        given each key's column in every hop ``cols`` ``[P, S * H]``: a key can only sit in
        its own slot of each hop, so this is one lookup per hop (NAT's dictionary join, no
        sort). Meaningless where ``keys < 0``."""
        p, s = keys.shape
        found = target.gather(1, cols).view(p, s, -1) == keys.unsqueeze(-1)
        return (found.long() * self.hop_bits).sum(-1)

    def pair_codes(self, key: Tensor, left: Tensor, right: Tensor) -> tuple[Tensor, Tensor]:
        r"""The hop codes of the pairs ``(left[i], right[i])`` of cache rows with keys
        ``[R, S]``: ``code`` ``[P, 2S]`` (the left row's slots, then the right row's) holds,
        at each distinct key's canonical occurrence, its 6-bit code (bit ``j``: in hop ``j``
        of the left node; bit ``j + 3``: of the right node) and 0 elsewhere; ``canon`` marks
        those occurrences."""
        r = key.size(0)
        low = self.lower_hops
        cols = self.cache.slot_cols.index_select(0, key.clamp(min=0).view(-1)).view(r, -1)
        self_bits = self._membership(key, cols, key)
        kl, kr = key.index_select(0, left), key.index_select(0, right)
        cl, cr = cols.index_select(0, left), cols.index_select(0, right)
        bl, br = self_bits.index_select(0, left), self_bits.index_select(0, right)
        r_of_l = self._membership(kr, cl, kl)  # left keys found on the right side
        l_of_r = self._membership(kl, cr, kr)
        canon_l = (kl >= 0) & ((bl & low) == 0)
        canon_r = (kr >= 0) & (l_of_r == 0) & ((br & low) == 0)
        code = torch.cat([(bl + (r_of_l << 3)) * canon_l, (br << 3) * canon_r], 1)
        return code, torch.cat([canon_l, canon_r], 1)

    def join(self, key: Tensor, entries: tuple[Tensor, Tensor, Tensor], left: Tensor,
             right: Tensor) -> Tensor:
        r"""Steps 3-4: the pooled joint neighbourhood feature of the pairs
        ``(left[i], right[i])`` of query rows, given the rows' cache keys ``[R, S]`` and
        their refreshed occupied entries ``(row, flat index, value)`` (:meth:`refreshed`);
        ``[P, join_dim]``.

        Every distinct key of a pair is counted once, at its canonical occurrence (its lowest
        hop on the left side, else its lowest hop on the right), with the 6-bit code of all
        its occurrences."""
        row, flat, value = entries
        r, s = key.shape
        p = left.numel()
        kl, kr = key.index_select(0, left), key.index_select(0, right)
        code, canon = self.pair_codes(key, left, right)
        if self.pooling == "sum":
            # Sum pooling is linear: the sum over keys of [x | h | Emb(code)] is the sum of
            # the keys' node features, of both rows' refreshed values and a code histogram.
            offset = torch.arange(p, device=key.device).unsqueeze(1) * 64
            hist = torch.bincount((offset + code).view(-1), minlength=p * 64).view(p, 64)
            hist[:, 0] = 0  # empty or non-canonical entries
            row_h = value.new_zeros(r, self.ngh_dim).index_add(0, row, value)
            parts = []
            if self.node_feat.size(1):
                keys = torch.cat([kl, kr], 1).clamp(min=0)
                nf = self.node_feat.index_select(0, keys.view(-1)).view(p, 2 * s, -1)
                parts.append((nf * canon.unsqueeze(-1)).sum(1))
            parts += [F.embedding(left, row_h) + F.embedding(right, row_h),
                      hist.to(row_h.dtype) @ self.code_emb.weight]
            return self.dropout(self.project(self.dropout(torch.cat(parts, -1))))
        # Attention pooling: one feature per canonical key, [x | sum of its h | Emb(code)].
        f = self.ngh_dim
        full = value.new_zeros(key.numel(), f).index_copy(0, flat, value).view(r, s * f)
        h_side = (F.embedding(left, full).view(p, s, f), F.embedding(right, full).view(p, s, f))
        hsum = []
        cols = self.cache.slot_cols.index_select(0, key.clamp(min=0).view(-1)).view(r, -1)
        cl, cr = cols.index_select(0, left), cols.index_select(0, right)
        for keys_side, cols_side in ((kl, cl), (kr, cr)):
            acc = value.new_zeros(p, s, f)
            for target, h in zip((kl, kr), h_side, strict=True):
                hit = target.gather(1, cols_side).view(p, s, -1) == keys_side.unsqueeze(-1)
                got = h.gather(1, cols_side.unsqueeze(-1).expand(-1, -1, f)).view(p, s, -1, f)
                acc = acc + (got * hit.unsqueeze(-1)).sum(2)
            hsum.append(acc)
        parts = []
        if self.node_feat.size(1):
            keys = torch.cat([kl, kr], 1).clamp(min=0)
            parts.append(self.node_feat.index_select(0, keys.view(-1)).view(p, 2 * s, -1))
        feat = torch.cat([*parts, torch.cat(hsum, 1), self.code_emb(code)], -1)
        proj = self.project(self.dropout(feat)).view(p, 2 * s, self.heads, self.join_dim)
        logit = (torch.tanh(proj) * self.attend).sum(-1)  # [P, 2S, heads]
        logit = logit.masked_fill(~canon.unsqueeze(-1), float("-inf"))
        att = torch.softmax(logit, 1).nan_to_num(0.0)
        z = (att.unsqueeze(-1) * proj).sum(1).mean(1)
        return self.dropout(z)

    def _queried(self, nodes: Tensor, times: Tensor,
                 ) -> tuple[Tensor, Tensor, CacheRead, tuple[Tensor, Tensor, Tensor]]:
        r"""Steps 1-2 for the query rows ``nodes`` at ``times``: each distinct node is
        refreshed once, at the earliest time it is queried (never later than any event it is
        scored for). Returns each row's index among the distinct nodes, their self
        representations, their read and their refreshed entries (:meth:`refreshed`)."""
        uniq, inv = torch.unique(nodes, return_inverse=True)
        t_first = torch.full((uniq.numel(),), float("inf"), dtype=torch.float64,
                             device=nodes.device)
        t_first.scatter_reduce_(0, inv, times.to(torch.float64), "amin")
        rd, *entries = self.refreshed(uniq, t_first)
        return inv, self.updated_self(uniq, t_first), rd, tuple(entries)

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
        inv, s_hat, rd, entries = self._queried(nodes, times)
        # Pairs: (src_i, dst_i) for all i, then (src_i, neg_ij); scored in one pass.
        left = torch.cat([inv[:b], inv[:b].repeat_interleave(q)])
        right = inv[b:]
        z = self.join(rd.key, entries, left, right)
        out = self.score(torch.cat([z, F.embedding(left, s_hat), F.embedding(right, s_hat)],
                                   -1)).squeeze(-1)
        pos, neg = out[:b], (out[b:] if q else None)
        if neg is not None and neg_dst.dim() == 2:
            neg = neg.view(b, q)
        s_hat = s_hat.detach()
        ctx = NATContext(_rows(rd, inv[:b]), _rows(rd, inv[b:2 * b]), s_hat[inv[:b]],
                         s_hat[inv[b:2 * b]])
        return pos, neg, ctx

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
            inv, s_hat, rd, _ = self._queried(torch.cat([src, dst]), torch.cat([t, t]))
            ctx = NATContext(_rows(rd, inv[:b]), _rows(rd, inv[b:]), s_hat[inv[:b]],
                             s_hat[inv[b:]])
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


def _rows(rd: CacheRead, idx: Tensor) -> CacheRead:
    return CacheRead(*(x.index_select(0, idx) for x in rd))


def _thin_mm(x: Tensor, w: Tensor) -> Tensor:
    r"""``x @ w.T`` for a narrow ``x`` [V, k] (k <= 4 by broadcasting: a BLAS call with a
    tiny inner dimension is ~50x slower on CPU)."""
    if x.size(1) > 4:
        return x @ w.t()
    out = x[:, :1] * w[:, 0]
    for k in range(1, x.size(1)):  # at most 3 more columns
        out = out + x[:, k:k + 1] * w[:, k]
    return out
