r"""SEMBA: memory-based representation learning on continuous-time dynamic *signed* networks
(Sharma et al., CIKM 2023), built from the TGN family's blocks.

Every node has a *positive* ("friend") memory :math:`\mathbf{s}^+` and a *negative* ("enemy")
memory :math:`\mathbf{s}^-`, each a :class:`~graphcl.nn.memory.NodeMemory` (mean aggregation of
the messages received since the node's last batch, its own GRU and its own last-update time).
The messages follow structural balance: for an event :math:`(i, j, t, \sigma, w)`

.. math::
    \mathbf{m}^+_i = [\mathbf{s}^+_i \,\|\, \mathbf{s}^{\sigma}_j \,\|\, \sigma, |w| \,\|\,
    \phi(\Delta t)], \qquad
    \mathbf{m}^-_i = [\mathbf{s}^-_i \,\|\, \mathbf{s}^{-\sigma}_j \,\|\, \sigma, |w| \,\|\,
    \phi(\Delta t)]

(a friend's friends and an enemy's enemies update the friend memory; the destination side is
symmetric). The embedding propagates :math:`[\mathbf{s}^+ \| \mathbf{s}^-]` with one layer of
temporal graph attention over each node's most recent signed interactions; across a negative
edge the neighbour's two memories swap roles (*balanced propagation*).

Differences from the released code (``claws-lab/semba``), all deliberate: a batch is embedded
from the memory and graph as of its start and inserted afterwards (the released code puts the
batch's own edges in the propagation graph, a leak); the negative memory is updated by every
event, as in the balance table, not only by negative ones; the propagation reads each node's
``num_neighbors`` most recent interactions in both directions (the TGN family's neighbour store)
instead of every past edge towards it; ids are unipartite (one node per user).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from graphcl.models.tgn import TemporalAttentionEmbedding
from graphcl.nn.memory import NodeMemory
from graphcl.nn.temporal_neighbors import RecentNeighborStore
from graphcl.nn.time_encoding import TimeEncoder

__all__ = ["SEMBA", "SignedContext", "SignedHead", "TASK_OUTPUTS"]

#: Output width of the head for each task.
TASK_OUTPUTS = {"link": 1, "sign": 1, "signed_link": 3, "weight": 1}


class SignedContext(NamedTuple):
    r"""What :meth:`SEMBA.embed` computed, reused by :meth:`SEMBA.update_state`."""

    n_id: Tensor
    pos: Tensor  # positive memory of n_id, pending messages applied
    pos_last: Tensor
    neg: Tensor
    neg_last: Tensor


class SEMBA(nn.Module):
    r"""SEMBA's node states and embedding (the task heads are :class:`SignedHead`).

    Events carry ``msg = [sign, weight]`` ``[B, 2]`` (sign :math:`\pm 1`, weight a non-negative
    magnitude, e.g. :math:`|r| / r_{max}`). The interface is the TGN family's:
    :meth:`embed` (nothing written), then :meth:`update_state` after the batch is scored.

    Args:
        num_nodes (int): Number of nodes.
        memory_dim (int, optional): Width of each of the two memories. (default: :obj:`64`)
        time_dim (int, optional): Time-encoding width. (default: :obj:`32`)
        embedding_dim (int, optional): Embedding width. (default: :obj:`64`)
        num_neighbors (int, optional): Recent interactions attended to. (default: :obj:`20`)
        heads (int, optional): Attention heads. (default: :obj:`8`)
        dropout (float, optional): Attention dropout. (default: :obj:`0.5`)
        balance (bool, optional): Route messages and propagation by structural balance;
            ``False`` (the "no balance" ablation) gives each memory the partner's memory of the
            same kind, with the sign only as a message feature. (default: :obj:`True`)
        propagation (bool, optional): Attention over recent interactions; ``False`` (the "no
            propagation" ablation) embeds a node by its two memories alone.
            (default: :obj:`True`)
        time_init (str, optional): Time-encoder initialisation (``"tgat"``: frequencies
            :math:`10^{-9} \dots 1` per time unit, so raw seconds are informative from the
            start). (default: :obj:`"tgat"`)
    """

    def __init__(self, num_nodes: int, memory_dim: int = 64, time_dim: int = 32,
                 embedding_dim: int = 64, *, num_neighbors: int = 20, heads: int = 8,
                 dropout: float = 0.5, balance: bool = True, propagation: bool = True,
                 time_init: str = "tgat") -> None:
        super().__init__()
        for name, v in (("num_nodes", num_nodes), ("memory_dim", memory_dim),
                        ("time_dim", time_dim), ("embedding_dim", embedding_dim),
                        ("num_neighbors", num_neighbors), ("heads", heads)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"SEMBA: {name} must be a positive integer, got {v!r}")
        self.num_nodes, self.memory_dim = num_nodes, memory_dim
        self.balance, self.propagation = bool(balance), bool(propagation)
        self.time_enc = TimeEncoder(time_dim, init=time_init)
        self.pos_memory = NodeMemory(num_nodes, memory_dim, time_dim, 2, aggregator="mean",
                                     time_encoder=self.time_enc)
        self.neg_memory = NodeMemory(num_nodes, memory_dim, time_dim, 2, aggregator="mean",
                                     time_encoder=self.time_enc)
        self.neighbors = RecentNeighborStore(num_nodes, num_neighbors, 2)
        self.embed_module: TemporalAttentionEmbedding | None = None
        if self.propagation:
            self.embed_module = TemporalAttentionEmbedding(
                2 * memory_dim, 1, self.time_enc, embedding_dim, heads, dropout)
            self.out_channels = embedding_dim
        else:
            self.out_channels = 2 * memory_dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all parameters and the temporal state."""
        self.pos_memory.reset_parameters()
        self.neg_memory.reset_parameters()
        if self.embed_module is not None:
            self.embed_module.reset_parameters()
        self.reset_state()

    def reset_state(self) -> None:
        r"""Empties both memories, their message stores and the neighbour store."""
        self.pos_memory.reset_state()
        self.neg_memory.reset_state()
        self.neighbors.reset_state()

    def detach(self) -> None:
        self.pos_memory.detach()
        self.neg_memory.detach()

    def transient_state_names(self) -> set[str]:
        r"""Buffers reset at every epoch start."""
        return {f"{prefix}.{name}" for prefix in ("pos_memory", "neg_memory", "neighbors")
                for name, _ in getattr(self, prefix).named_buffers(recurse=False)}

    def state_backup(self) -> dict[str, dict[str, Tensor]]:
        return {k: getattr(self, k).state_backup()
                for k in ("pos_memory", "neg_memory", "neighbors")}

    def state_restore(self, backup: dict[str, dict[str, Tensor]]) -> None:
        for k, v in backup.items():
            getattr(self, k).state_restore(v)

    def embed(self, nodes: Tensor, t: Tensor) -> tuple[Tensor, SignedContext]:
        r"""Embeddings ``[Q, out_channels]`` of ``nodes`` at times ``t``, from the memories
        with earlier batches' messages applied; nothing is written."""
        if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= self.num_nodes):
            raise ValueError(f"SEMBA.embed: node ids must be in [0, {self.num_nodes})")
        if self.propagation:
            nbr, nbr_t, nbr_e, mask = self.neighbors(nodes)
            n_id = torch.unique(torch.cat([nodes, nbr[mask]]))
        else:
            n_id = torch.unique(nodes)
        sp, lp, _ = self.pos_memory(n_id)
        sn, ln, _ = self.neg_memory(n_id)
        ctx = SignedContext(n_id, sp, lp, sn, ln)
        mem = torch.cat([sp, sn], -1)
        pos = torch.searchsorted(n_id, nodes)
        if self.embed_module is None:
            return mem[pos], ctx
        alt = torch.cat([sn, sp], -1) if self.balance else None
        z = self.embed_module(mem, pos, t, torch.searchsorted(n_id, nbr), nbr_t,
                              nbr_e[..., 1:], mask, alt_mem=alt, use_alt=nbr_e[..., 0] < 0)
        return z, ctx

    def update_state(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor,
                     ctx: SignedContext | None = None, e_id: Tensor | None = None) -> None:
        r"""After scoring a batch: persists both memories of its nodes, stores its
        balance-routed messages and adds its events to the neighbour store.

        Args:
            msg (Tensor): ``[B, 2]``: each event's sign (:math:`\pm 1`) and weight.
        """
        if msg.dim() != 2 or msg.size(1) != 2 or msg.size(0) != src.numel():
            raise ValueError(f"SEMBA.update_state: msg must be [{src.numel()}, 2] "
                             f"(sign, weight), got {list(msg.shape)}")
        if ctx is None:
            n_id = torch.unique(torch.cat([src, dst]))
            sp, lp, _ = self.pos_memory(n_id)
            sn, ln, _ = self.neg_memory(n_id)
            ctx = SignedContext(n_id, sp, lp, sn, ln)
        n_id = ctx.n_id
        ps, pd = torch.searchsorted(n_id, src), torch.searchsorted(n_id, dst)
        if self.balance:
            neg = (msg[:, 0] < 0).unsqueeze(1)
            sp, sn = ctx.pos.detach(), ctx.neg.detach()
            # A friend's friend and an enemy's enemy are friends.
            part_pos = (torch.where(neg, sn[pd], sp[pd]), torch.where(neg, sn[ps], sp[ps]))
            part_neg = (torch.where(neg, sp[pd], sn[pd]), torch.where(neg, sp[ps], sn[ps]))
        else:
            part_pos = part_neg = None
        self.pos_memory.update_state(src, dst, t, msg, n_id=n_id, memory=ctx.pos,
                                     last_update=ctx.pos_last, partner=part_pos)
        self.neg_memory.update_state(src, dst, t, msg, n_id=n_id, memory=ctx.neg,
                                     last_update=ctx.neg_last, partner=part_neg)
        self.neighbors.insert(src, dst, t, msg, e_id)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"memory_dim={self.memory_dim}, balance={self.balance}, "
                f"propagation={self.propagation}, neighbors={self.neighbors.size}, "
                f"out_channels={self.out_channels})")


class SignedHead(nn.Module):
    r"""The task head on :math:`[\mathbf{z}_u \| \mathbf{z}_v]`: ``"mlp"``
    (``Linear(2d, d) → ReLU → Linear(d, k)``, TGN's decoder) or ``"linear"`` (the released
    code's ``Linear(2d, k)``); :math:`k` from :data:`TASK_OUTPUTS`. Returns logits ``[..., k]``
    (``[...]`` when :math:`k = 1`)."""

    def __init__(self, in_channels: int, task: str, kind: str = "mlp") -> None:
        super().__init__()
        if task not in TASK_OUTPUTS:
            raise ValueError(f"SignedHead: task must be one of {sorted(TASK_OUTPUTS)}, "
                             f"got {task!r}")
        if kind not in ("mlp", "linear"):
            raise ValueError(f"SignedHead: kind must be 'mlp' or 'linear', got {kind!r}")
        self.task, self.kind, self.k = task, kind, TASK_OUTPUTS[task]
        if kind == "mlp":
            self.net: nn.Module = nn.Sequential(nn.Linear(2 * in_channels, in_channels),
                                                nn.ReLU(), nn.Linear(in_channels, self.k))
        else:
            self.net = nn.Linear(2 * in_channels, self.k)

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:
        out = self.net(torch.cat([z_src, z_dst], -1))
        return out.squeeze(-1) if self.k == 1 else out
