r"""Hashed per-node neighbourhood caches (N-caches) of NAT."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

_PRIME = 2_147_483_647  # 2^31 - 1: the modulus of the universal hash


class CacheRead(NamedTuple):
    r"""What :meth:`NeighborhoodCache.read` returns for ``R`` query nodes and ``S`` slots."""

    key: Tensor  # [R, S] int64, -1 = empty slot
    eid: Tensor  # [R, S] int64, -1 = no event yet (the value counts as zero)
    time: Tensor  # [R, S] float64
    value: Tensor  # [R, S, F]


def last_occurrence(index: Tensor) -> Tensor:
    r"""Positions of the last occurrence of every distinct value of ``index`` (so that a
    scatter of duplicate targets keeps the latest write, whatever the device)."""
    if index.numel() == 0:
        return index.new_zeros(0)
    uniq, inv = torch.unique(index, return_inverse=True)
    pos = torch.arange(index.numel(), device=index.device)
    return torch.zeros(uniq.numel(), dtype=torch.long, device=index.device).scatter_reduce_(
        0, inv, pos, "amax", include_self=False)


class NeighborhoodCache(nn.Module):
    r"""The N-caches of NAT (`"Neighborhood-aware Scalable Temporal Network Representation
    Learning" <https://arxiv.org/abs/2209.01084>`_, Luo & Li, LoG 2022): every node keeps, per
    hop :math:`k = 0..K`, a fixed array of :math:`M_k` hashed slots, each holding a neighbour's
    id (the key), the id and time of the event that wrote it and a value vector
    :math:`\mathbf{h} \in \mathbb{R}^F`. Hop 0 has one slot whose key is the node itself.

    A key :math:`a` lives in slot

    .. math::
        \mathrm{slot}_k(a) = \big((c_{1,k}\, a + c_{2,k}) \bmod p\big) \bmod M_k,
        \qquad p = 2^{31} - 1,

    a universal hash with constants drawn from ``seed`` (the released code's
    :math:`(ac + a^2(c+1)) \bmod M` reaches only ~60 % of a power-of-two array). A write to a
    slot that is empty or holds the same key always lands; one to a slot holding another key
    lands with probability :math:`\alpha` (``replace_prob``), else it is dropped, which keeps a
    random, recency-biased sample of the neighbourhood. The draws come from a generator seeded
    by ``(seed, write count)``, so a run is deterministic and resumes exactly from
    :meth:`state_dict`. All writes of one call are one scatter; where several land on the same
    slot the latest (in the order given) wins, on any device. Ids are ``int64`` and times
    ``float64`` (the released code keeps both in ``float32``, losing ids above :math:`2^{24}`
    and second resolution on Unix times).

    :meth:`update` is NAT's write-back after a batch: for every event :math:`(u, v, e, t)` the
    partner enters the other's hop-1 cache, the partner's hop-1 entries enter its hop-2 cache
    (2-hop propagation), and the node's own slot records the event.

    Args:
        num_nodes (int): Number of nodes.
        sizes (sequence of int): :math:`M_1, \dots, M_K` (hop 0 always has one slot).
            (default: ``(32, 16)``)
        dim (int, optional): :math:`F`, the value width. (default: ``4``)
        replace_prob (float, optional): :math:`\alpha \in [0, 1]`. (default: ``0.9``)
        seed (int, optional): Seed of the hash constants and the replacement draws.
            (default: ``0``)
    """

    def __init__(self, num_nodes: int, sizes: tuple[int, ...] | list[int] = (32, 16),
                 dim: int = 4, replace_prob: float = 0.9, seed: int = 0) -> None:
        super().__init__()
        sizes = [int(m) for m in sizes]
        if num_nodes < 1:
            raise ValueError(f"NeighborhoodCache: num_nodes must be >= 1, got {num_nodes}")
        if not sizes or any(m < 1 for m in sizes):
            raise ValueError(f"NeighborhoodCache: cache sizes must be positive, got {sizes}")
        if dim < 1:
            raise ValueError(f"NeighborhoodCache: dim must be >= 1, got {dim}")
        if not 0.0 <= float(replace_prob) <= 1.0:
            raise ValueError(f"NeighborhoodCache: replace_prob must be in [0, 1], got {replace_prob}")
        self.num_nodes, self.sizes, self.dim = int(num_nodes), sizes, int(dim)
        self.replace_prob, self.seed = float(replace_prob), int(seed)
        self.num_hops = len(sizes)
        widths = [1, *sizes]
        self.num_slots = sum(widths)
        offsets = torch.tensor([0, *widths[:-1]]).cumsum(0)
        hop = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("slot_hop", hop, persistent=False)  # hop of each slot column
        self.register_buffer("hop_size", torch.tensor(widths), persistent=False)
        gen = torch.Generator().manual_seed(self.seed)
        c1 = torch.randint(1, _PRIME, (len(widths),), generator=gen)
        c2 = torch.randint(0, _PRIME, (len(widths),), generator=gen)
        self.register_buffer("hash_a", c1)
        self.register_buffer("hash_b", c2)
        # every node's column in every hop, precomputed (keys are node ids)
        self.register_buffer("slot_cols", self._slot_columns(), persistent=False)
        n, s = self.num_nodes, self.num_slots
        self.register_buffer("key", torch.empty(n, s, dtype=torch.long))
        self.register_buffer("eid", torch.empty(n, s, dtype=torch.long))
        self.register_buffer("time", torch.empty(n, s, dtype=torch.float64))
        self.register_buffer("value", torch.empty(n, s, self.dim))
        self.register_buffer("writes", torch.zeros((), dtype=torch.long))
        self.register_buffer("draw_seed", torch.tensor(self.seed))  # state: with the checkpoint
        self.reset_state()

    STATE = ("key", "eid", "time", "value", "writes")

    def reset_state(self) -> None:
        r"""Empties every cache (hop-0 keys are the nodes themselves, with no event)."""
        self.key.fill_(-1)
        self.key[:, 0] = torch.arange(self.num_nodes, device=self.key.device)
        self.eid.fill_(-1)
        self.time.zero_()
        self.value.zero_()
        self.writes.zero_()

    def state_backup(self) -> dict[str, Tensor]:
        return {k: getattr(self, k).clone() for k in self.STATE}

    def state_restore(self, backup: dict[str, Tensor]) -> None:
        for k in self.STATE:
            getattr(self, k).copy_(backup[k])

    def nbytes(self) -> int:
        r"""Memory held by the caches, in bytes (fixed by ``num_nodes`` and the sizes)."""
        return sum(getattr(self, k).nbytes for k in self.STATE)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.slot_cols.copy_(self._slot_columns())  # the loaded hash constants'

    def _slot_columns(self) -> Tensor:
        r"""``[num_nodes, hops]``: the column of every node's slot in every hop."""
        hop = torch.arange(self.num_hops + 1, device=self.hash_a.device)
        key = torch.arange(self.num_nodes, device=self.hash_a.device).unsqueeze(1)
        h = (self.hash_a[hop] * (key % _PRIME) + self.hash_b[hop]) % _PRIME
        return h % self.hop_size[hop] + self.offsets[hop]

    def slot(self, key: Tensor, hop: int | Tensor) -> Tensor:
        r"""The slot (within its hop) of node ``key`` in hop ``hop`` (broadcasting)."""
        hop = torch.as_tensor(hop, device=key.device)
        return self.slot_cols[key, hop] - self.offsets[hop]

    def _check_nodes(self, name: str, nodes: Tensor) -> None:
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= self.num_nodes):
            bad = int(nodes.min()) if int(nodes.min()) < 0 else int(nodes.max())
            raise ValueError(f"NeighborhoodCache.{name}: node id {bad} is outside the cache "
                             f"[0, num_nodes={self.num_nodes})")

    def read(self, nodes: Tensor) -> CacheRead:
        r"""The entries of ``nodes`` [R] over all hops: ``[R, S]`` tensors, slot ``j`` of hop
        :attr:`slot_hop` ``[j]`` (one gather per field)."""
        self._check_nodes("read", nodes)
        return CacheRead(*(getattr(self, k).index_select(0, nodes)
                           for k in ("key", "eid", "time", "value")))

    @torch.no_grad()
    def write(self, nodes: Tensor, hop: Tensor, key: Tensor, eid: Tensor, time: Tensor,
              value: Tensor) -> Tensor:
        r"""Writes entries ``(key, eid, time, value)`` into the hop-``hop`` caches of
        ``nodes`` (all ``[W]``, ``value`` ``[W, F]``) under the collision rule; entries with
        ``key < 0`` are skipped. Returns the mask of writes that landed."""
        self._check_nodes("write", nodes)
        if nodes.numel() == 0:
            return nodes.new_zeros(0, dtype=torch.bool)
        target = nodes * self.num_slots + self.slot_cols[key.clamp(min=0), hop]
        current = self.key.view(-1).index_select(0, target)
        clash = (current >= 0) & (current != key)
        gen = torch.Generator(device=nodes.device).manual_seed(
            int(self.draw_seed) * 1_000_003 + int(self.writes))
        self.writes += 1
        draw = torch.rand(target.numel(), generator=gen, device=nodes.device)
        ok = (key >= 0) & (~clash | (draw < self.replace_prob))
        idx = ok.nonzero().view(-1)
        idx = idx.index_select(0, last_occurrence(target.index_select(0, idx)))
        t = target.index_select(0, idx)
        self.key.view(-1).index_copy_(0, t, key.index_select(0, idx))
        self.eid.view(-1).index_copy_(0, t, eid.index_select(0, idx))
        self.time.view(-1).index_copy_(0, t, time.index_select(0, idx).to(self.time.dtype))
        self.value.view(-1, self.dim).index_copy_(0, t, value.index_select(0, idx).to(
            self.value.dtype))
        return ok

    @torch.no_grad()
    def update(self, src: Tensor, dst: Tensor, eid: Tensor, t: Tensor, read_src: CacheRead,
               read_dst: CacheRead) -> None:
        r"""NAT's write-back of a batch of events ``(src, dst, eid, t)`` (chronological),
        given both endpoints' entries as read before the batch with their values refreshed
        (``read_*.value``).

        For each event and each side :math:`(u, v)`:

        * hop 0: :math:`u`'s own slot gets :math:`(u, e, t, \hat{h}_u^{(0)})`;
        * hop 1: :math:`v` enters :math:`u`'s hop-1 cache as :math:`(v, e, t, \hat{h})` with
          the refreshed value of :math:`v`'s old entry there, or zero if its slot held no
          :math:`v`;
        * hop 2 (if kept): every occupied entry of :math:`v`'s hop-1 cache is copied, with its
          refreshed value, into :math:`u`'s hop-2 cache.

        Events later in the batch win where they hit the same slot.
        """
        b = src.numel()
        if b == 0:
            return
        # Interleaved (event 0 src, event 0 dst, event 1 src, ...): each node's writes stay in
        # event order, and row r's partner is row r ^ 1.
        me = torch.stack([src, dst], 1).view(-1)
        other = torch.stack([dst, src], 1).view(-1)
        e2, t2 = eid.repeat_interleave(2), t.to(torch.float64).repeat_interleave(2)
        s = self.num_slots

        def rows(a: Tensor, b_: Tensor) -> Tensor:
            return torch.stack([a, b_], 1).view(2 * b, *a.shape[1:])

        key = rows(read_src.key, read_dst.key)
        val = rows(read_src.value, read_dst.value).detach()
        nodes, hops, keys, eids, times, vals = [me], [torch.zeros_like(me)], [me], [e2], [t2], \
            [val[:, 0]]
        if self.num_hops >= 1:
            col = self.slot_cols.index_select(0, other)[:, 1]
            held = key.gather(1, col.unsqueeze(1)).squeeze(1) == other
            flat = torch.arange(2 * b, device=src.device) * s + col
            v1 = val.view(-1, self.dim).index_select(0, flat) * held.unsqueeze(1)
            nodes.append(me), hops.append(torch.ones_like(me)), keys.append(other)
            eids.append(e2), times.append(t2), vals.append(v1)
        if self.num_hops >= 2:
            lo, hi = int(self.offsets[1]), int(self.offsets[1]) + self.sizes[0]
            # the partner's hop-1 entries (the row pair swapped)
            pk = key.view(b, 2, s).flip(1).reshape(2 * b, s)[:, lo:hi]
            sel = (pk >= 0).view(-1).nonzero().view(-1)
            row = torch.div(sel, hi - lo, rounding_mode="floor")
            flat = ((row ^ 1) * s + lo + sel % (hi - lo))  # in the unswapped reads
            pe = rows(read_src.eid, read_dst.eid).view(-1).index_select(0, flat)
            pt = rows(read_src.time, read_dst.time).view(-1).index_select(0, flat)
            pv = val.view(-1, self.dim).index_select(0, flat)
            nodes.append(me.index_select(0, row)), hops.append(torch.full_like(row, 2))
            keys.append(pk.reshape(-1).index_select(0, sel)), eids.append(pe), times.append(pt)
            vals.append(pv)
        # One scatter per call; the hops write different slots, so their order never matters.
        self.write(torch.cat(nodes), torch.cat(hops), torch.cat(keys), torch.cat(eids),
                   torch.cat(times), torch.cat(vals))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, sizes={self.sizes}, "
                f"dim={self.dim}, replace_prob={self.replace_prob}, seed={self.seed})")
