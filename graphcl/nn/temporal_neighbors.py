r"""A dense store of each node's most recent temporal neighbours."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RecentNeighborStore(nn.Module):
    r"""Keeps, for every node, its :math:`k` most recent interactions (neighbour, time, event
    id, edge features) in dense ``[N, k]`` ring buffers, as the "most recent" sampler of TGN
    (paper Fig. 5: most-recent beats uniform sampling).

    Insertion and lookup are fully vectorised: a batch of events is sorted once by node, each
    node's entries get consecutive ring slots, and only the last :math:`k` per node are written.
    Unlike PyG's :class:`~torch_geometric.nn.models.tgn.LastNeighborLoader` the store also keeps
    the interaction times and features, and its whole state is in :meth:`state_dict`.

    Args:
        num_nodes (int): Number of nodes.
        size (int): :math:`k`, neighbours kept per node.
        edge_dim (int, optional): Edge-feature dimension (0 for feature-less events).
            (default: :obj:`0`)
    """

    def __init__(self, num_nodes: int, size: int, edge_dim: int = 0) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"RecentNeighborStore: size must be >= 1, got {size}")
        self.num_nodes = int(num_nodes)
        self.size = int(size)
        self.edge_dim = int(edge_dim)
        self.register_buffer("neighbors", torch.zeros(num_nodes, size, dtype=torch.long))
        self.register_buffer("times", torch.zeros(num_nodes, size, dtype=torch.float64))
        self.register_buffer("edge_ids", torch.full((num_nodes, size), -1, dtype=torch.long))
        self.register_buffer("feats", torch.zeros(num_nodes, size, edge_dim))
        self.register_buffer("count", torch.zeros(num_nodes, dtype=torch.long))
        self.reset_state()

    def reset_parameters(self) -> None:
        r"""The store has no parameters; resets its state."""
        self.reset_state()

    def reset_state(self) -> None:
        r"""Forgets all interactions."""
        self.neighbors.zero_()
        self.times.zero_()
        self.edge_ids.fill_(-1)
        self.feats.zero_()
        self.count.zero_()

    def insert(
        self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None,
        e_id: Tensor | None = None,
    ) -> None:
        r"""Adds events (in chronological order) in both directions.

        Args:
            src (Tensor): Source ids ``[B]``.
            dst (Tensor): Destination ids ``[B]``.
            t (Tensor): Event times ``[B]``.
            msg (Tensor, optional): Edge features ``[B, edge_dim]``.
            e_id (Tensor, optional): Global event ids ``[B]``; ``-2`` marks them unknown.
                (default: :obj:`None`)
        """
        if src.numel():
            self.insert_entries(*self.entries(src, dst, t, msg, e_id))

    def entries(
        self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None,
        e_id: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        r"""The entries :meth:`insert` adds for events ``(src, dst, t, msg, e_id)``, as
        ``(nodes, nbrs, ts, feats, eids)`` for :meth:`insert_entries`: one per endpoint,
        interleaved (source side, destination side) so each node's entries stay
        chronological (a store partitioned by node owner keeps the entries of its rows)."""
        b = src.numel()
        if msg is None:
            msg = torch.zeros(b, self.edge_dim, device=src.device)
        if msg.dim() != 2 or msg.size(1) != self.edge_dim:
            raise ValueError(
                f"RecentNeighborStore.insert: msg must have shape [{b}, {self.edge_dim}], "
                f"got {list(msg.shape)}")
        if e_id is None:
            e_id = torch.full((b,), -2, dtype=torch.long, device=src.device)
        return (torch.stack([src, dst], 1).view(-1), torch.stack([dst, src], 1).view(-1),
                t.to(torch.float64).repeat_interleave(2), msg.repeat_interleave(2, 0),
                e_id.repeat_interleave(2))

    def insert_entries(self, nodes: Tensor, nbrs: Tensor, ts: Tensor, feats: Tensor,
                       eids: Tensor) -> None:
        r"""Adds one entry per element, in chronological order: neighbour ``nbrs[i]`` of row
        ``nodes[i]`` at time ``ts[i]`` with features ``feats[i]`` and event id ``eids[i]``
        (see :meth:`entries`)."""
        if nodes.numel() == 0:
            return
        nodes_s, perm = torch.sort(nodes, stable=True)
        uniq, counts = torch.unique_consecutive(nodes_s, return_counts=True)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(nodes_s.numel(), device=nodes.device) - start.repeat_interleave(counts)
        keep = rank >= (counts - self.size).repeat_interleave(counts)
        slot = (self.count[nodes_s] + rank) % self.size
        node_k, slot_k, perm_k = nodes_s[keep], slot[keep], perm[keep]
        self.neighbors[node_k, slot_k] = nbrs[perm_k]
        self.times[node_k, slot_k] = ts[perm_k]
        self.edge_ids[node_k, slot_k] = eids[perm_k]
        if self.edge_dim > 0:
            self.feats[node_k, slot_k] = feats[perm_k].to(self.feats.dtype)
        self.count[uniq] += counts

    def forward(self, n_id: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""Returns ``(neighbors, times, feats, mask)`` of shapes ``[Q, k]``, ``[Q, k]``,
        ``[Q, k, edge_dim]`` and ``[Q, k]`` (``mask`` marks filled slots; order within a row is
        the ring order, which attention does not depend on)."""
        mask = torch.arange(self.size, device=n_id.device) < self.count[n_id].unsqueeze(1)
        return self.neighbors[n_id], self.times[n_id], self.feats[n_id], mask

    def state_backup(self) -> dict[str, Tensor]:
        r"""A copy of the whole state (for memory backup/restore around evaluation)."""
        return {k: v.clone() for k, v in self._buffers.items() if v is not None}

    def state_restore(self, backup: dict[str, Tensor]) -> None:
        r"""Restores a copy made by :meth:`state_backup`."""
        for k, v in backup.items():
            self._buffers[k].copy_(v)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, size={self.size}, "
                f"edge_dim={self.edge_dim})")
