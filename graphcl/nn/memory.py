r"""Node memory for memory-based dynamic GNNs (TGN, JODIE, APAN) with a checkpointable message
store."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from graphcl.nn.time_encoding import TimeEncoder

AGGREGATORS = ("last", "mean")
UPDATERS = ("gru", "rnn")
MESSAGES = ("identity", "mlp")


def _check_events(name: str, num_nodes: int, src: Tensor, dst: Tensor, t: Tensor) -> None:
    if src.dim() != 1 or dst.shape != src.shape or t.shape != src.shape:
        raise ValueError(
            f"{name}: src, dst and t must be 1-D of equal length, got {list(src.shape)}, "
            f"{list(dst.shape)}, {list(t.shape)}")
    if src.numel() == 0:
        return
    lo = int(torch.minimum(src.min(), dst.min()))
    hi = int(torch.maximum(src.max(), dst.max()))
    if lo < 0 or hi >= num_nodes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name}: node id {bad} is outside [0, num_nodes={num_nodes})")
    if t.numel() > 1:
        dec = (t[1:] < t[:-1]).nonzero()
        if dec.numel() > 0:
            i = int(dec[0]) + 1
            raise ValueError(
                f"{name}: events must be sorted by time; event {i} of the batch has "
                f"t={t[i].item()} < t={t[i - 1].item()} of event {i - 1}")


def segment_layout(index: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Stable-sorts ``index`` and returns ``(perm, uniq, counts, group)`` where ``group[j]`` is
    the segment of the ``j``-th sorted entry."""
    sorted_idx, perm = torch.sort(index, stable=True)
    uniq, counts = torch.unique_consecutive(sorted_idx, return_counts=True)
    group = torch.repeat_interleave(torch.arange(uniq.numel(), device=index.device), counts)
    return perm, uniq, counts, group


class NodeMemory(nn.Module):
    r"""The node memory of TGN (`"Temporal Graph Networks for Deep Learning on Dynamic Graphs"
    <https://arxiv.org/abs/2006.10637>`_) with its raw-message store held in buffers.

    Every event :math:`(i, j, t, \mathbf{e}_{ij})` leaves one raw message per endpoint,
    computed from the memory *before* the event's batch,

    .. math::
        \mathbf{m}_i = \mathrm{msg}\big(\mathbf{s}_i(t^-) \,\|\, \mathbf{s}_j(t^-) \,\|\,
        \phi(t - t_i^-) \,\|\, \mathbf{e}_{ij}\big),

    which waits in the store until the node's next batch, where the aggregated message updates
    the memory, :math:`\mathbf{s}_i \leftarrow \mathrm{GRU}(\bar{\mathbf{m}}_i, \mathbf{s}_i)`.
    This is the "update at start" scheme: a batch's own events never feed its own prediction.

    The store keeps, per node, the *aggregated* raw parts of its pending messages (partner
    memory, edge features, time) in buffers, so :meth:`state_dict` (and checkpoints, and
    :meth:`state_backup`) include the pending messages exactly; PyG's
    :class:`~torch_geometric.nn.models.tgn.TGNMemory` keeps them in Python dicts and loses them.
    All messages pending for a node come from one batch (a node's store is consumed whenever it
    takes part in a batch). With ``aggregator="last"`` the time encoding is computed when the
    message is applied (so it receives gradient); with ``"mean"`` the mean of the encodings is
    stored (detached), and the message function (if ``"mlp"``) is applied to the mean raw
    message. Equal timestamps are allowed (within and across batches), as in PyG; a batch whose
    times go backwards, or that is older than a node's last update, is rejected.

    Args:
        num_nodes (int): Number of nodes.
        memory_dim (int): Memory dimension :math:`d`.
        time_dim (int): Time-encoding dimension.
        edge_dim (int, optional): Edge-feature (raw message) dimension. (default: :obj:`0`)
        message (str, optional): ``"identity"`` (concatenation) or ``"mlp"``.
            (default: :obj:`"identity"`)
        message_dim (int, optional): Output width of the ``"mlp"`` message.
            (default: :obj:`None` = memory_dim)
        aggregator (str, optional): ``"last"`` or ``"mean"``. (default: :obj:`"last"`)
        updater (str or callable, optional): ``"gru"``, ``"rnn"`` (JODIE/DyRep), or a module
            ``(message, state) -> state``. (default: :obj:`"gru"`)
        time_encoder (TimeEncoder, optional): A shared time encoder. (default: a new one)
    """

    def __init__(
        self, num_nodes: int, memory_dim: int, time_dim: int, edge_dim: int = 0, *,
        message: str = "identity", message_dim: int | None = None, aggregator: str = "last",
        updater: str | Callable[[Tensor, Tensor], Tensor] = "gru",
        time_encoder: TimeEncoder | None = None,
    ) -> None:
        super().__init__()
        if aggregator not in AGGREGATORS:
            raise ValueError(f"NodeMemory: aggregator must be one of {AGGREGATORS}, got {aggregator!r}")
        if message not in MESSAGES:
            raise ValueError(f"NodeMemory: message must be one of {MESSAGES}, got {message!r}")
        self.num_nodes = int(num_nodes)
        self.memory_dim = int(memory_dim)
        self.edge_dim = int(edge_dim)
        self.aggregator = aggregator
        self.message = message
        self.time_enc = time_encoder if time_encoder is not None else TimeEncoder(time_dim)
        self.time_dim = self.time_enc.out_channels
        self.raw_dim = 2 * memory_dim + self.time_dim + edge_dim
        if message == "identity":
            self.msg_fn: nn.Module | None = None
            msg_out = self.raw_dim
        else:
            msg_out = message_dim or memory_dim
            self.msg_fn = nn.Sequential(
                nn.Linear(self.raw_dim, self.raw_dim // 2), nn.ReLU(),
                nn.Linear(self.raw_dim // 2, msg_out))
        self.updater_name = updater if isinstance(updater, str) else type(updater).__name__
        if updater == "gru":
            self.updater: nn.Module = nn.GRUCell(msg_out, memory_dim)
        elif updater == "rnn":
            self.updater = nn.RNNCell(msg_out, memory_dim)
        elif callable(updater):
            self.updater = updater
        else:
            raise ValueError(f"NodeMemory: updater must be one of {UPDATERS} or a module, got {updater!r}")

        n = self.num_nodes
        self.register_buffer("memory", torch.zeros(n, memory_dim))
        self.register_buffer("last_update", torch.zeros(n, dtype=torch.float64))
        # The message store: aggregated raw parts of each node's pending messages.
        self.register_buffer("msg_count", torch.zeros(n, dtype=torch.long))
        self.register_buffer("msg_time", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("msg_other", torch.zeros(n, memory_dim))
        self.register_buffer("msg_feat", torch.zeros(n, edge_dim))
        self.register_buffer("msg_enc", torch.zeros(n, self.time_dim if aggregator == "mean" else 0))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the learnable parameters and the state."""
        self.time_enc.reset_parameters()
        if self.msg_fn is not None:
            for m in self.msg_fn:
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        if hasattr(self.updater, "reset_parameters"):
            self.updater.reset_parameters()
        self.reset_state()

    def reset_state(self) -> None:
        r"""Zeroes the memory and ``last_update`` and empties the message store."""
        for buf in self._buffers.values():
            buf.zero_()

    def detach(self) -> None:
        r"""The stored memory never carries a graph (it is written detached); kept for parity
        with PyG's API."""
        self.memory.detach_()

    def state_backup(self) -> dict[str, Tensor]:
        r"""A copy of the memory, ``last_update`` and the message store."""
        return {k: v.clone() for k, v in self._buffers.items()}

    def state_restore(self, backup: dict[str, Tensor]) -> None:
        r"""Restores a copy made by :meth:`state_backup`."""
        for k, v in backup.items():
            self._buffers[k].copy_(v)

    def forward(self, n_id: Tensor, grad_mask: Tensor | None = None,
                ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Returns, for nodes ``n_id``, the memory with their pending messages applied
        (differentiable), its ``last_update`` and a mask of the nodes that had messages.
        Nothing is written.

        Args:
            n_id (Tensor): Node ids ``[M]``.
            grad_mask (Tensor, optional): ``[M]`` bool; rows outside it are updated without
                autograd (same values, no gradient, ~3x cheaper). (default: :obj:`None`, all)
        """
        mem = self.memory[n_id]
        last = self.last_update[n_id]
        pending = self.msg_count[n_id] > 0
        if not bool(pending.any()):
            return mem, last, pending
        rows = pending.nonzero().view(-1)
        if grad_mask is not None and torch.is_grad_enabled():
            with_grad = grad_mask[rows]
            rows_ng = rows[~with_grad]
            rows = rows[with_grad]
            if rows_ng.numel():
                with torch.no_grad():
                    mem = mem.index_put((rows_ng,), self._apply(n_id[rows_ng]))
        if rows.numel():
            mem = mem.index_put((rows,), self._apply(n_id[rows]))
        last = torch.where(pending, self.msg_time[n_id], last)
        return mem, last, pending

    def _apply(self, idx: Tensor) -> Tensor:
        state = self.memory[idx]
        if self.aggregator == "last":
            enc = self.time_enc((self.msg_time[idx] - self.last_update[idx]).to(state.dtype))
        else:
            enc = self.msg_enc[idx]
        msg = torch.cat([state, self.msg_other[idx], enc, self.msg_feat[idx]], dim=-1)
        if self.msg_fn is not None:
            msg = self.msg_fn(msg)
        return self.updater(msg, state)

    @torch.no_grad()
    def update_state(
        self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor | None = None, *,
        n_id: Tensor | None = None, memory: Tensor | None = None,
        last_update: Tensor | None = None, partner: tuple[Tensor, Tensor] | None = None,
        event_mask: Tensor | None = None,
    ) -> None:
        r"""Persists the updated memory of the batch's nodes and stores the batch's messages.

        Args:
            src (Tensor): Source ids ``[B]``, chronological.
            dst (Tensor): Destination ids ``[B]``.
            t (Tensor): Times ``[B]`` (non-decreasing; equal times are allowed).
            msg (Tensor, optional): Raw edge features ``[B, edge_dim]``. (default: :obj:`None`)
            n_id (Tensor, optional): Sorted unique node ids for which ``memory`` and
                ``last_update`` were computed by :meth:`forward` in this batch (reused so the
                messages are not computed twice, TGN issue #25); must contain ``src`` and
                ``dst``. (default: :obj:`None`, computed here)
            memory (Tensor, optional): ``forward(n_id)[0]``. (default: :obj:`None`)
            last_update (Tensor, optional): ``forward(n_id)[1]``. (default: :obj:`None`)
            partner (tuple, optional): ``(p_src, p_dst)``, each ``[B, d]``: the partner state
                in the message of each event's source and of its destination, instead of the
                partner's own memory (SEMBA routes the partner's positive or negative memory by
                the event's sign). (default: :obj:`None`)
            event_mask (Tensor, optional): ``[B]`` bool; only these events leave messages.
                Every node of the batch still persists its updated memory, which consumes its
                pending messages. (default: :obj:`None`, all)
        """
        _check_events("NodeMemory.update_state", self.num_nodes, src, dst, t)
        b = src.numel()
        if msg is None:
            if self.edge_dim != 0:
                raise ValueError(
                    f"NodeMemory.update_state: msg is required (edge_dim={self.edge_dim})")
            msg = self.msg_feat.new_zeros(b, 0)
        if msg.dim() != 2 or msg.size(0) != b or msg.size(1) != self.edge_dim:
            raise ValueError(
                f"NodeMemory.update_state: message dimension mismatch: expected msg of shape "
                f"[{b}, {self.edge_dim}], got {list(msg.shape)}")
        if b == 0:
            return
        if n_id is None or memory is None or last_update is None:
            n_id = torch.unique(torch.cat([src, dst]))
            memory, last_update, _ = self(n_id)
        memory = memory.detach()
        pos_src = torch.searchsorted(n_id, src)
        pos_dst = torch.searchsorted(n_id, dst)
        pos_src_c = pos_src.clamp(max=n_id.numel() - 1)
        pos_dst_c = pos_dst.clamp(max=n_id.numel() - 1)
        if bool((n_id[pos_src_c] != src).any() | (n_id[pos_dst_c] != dst).any()):
            raise ValueError("NodeMemory.update_state: n_id must be sorted and contain src and dst")
        lu_src, lu_dst = last_update[pos_src_c], last_update[pos_dst_c]
        t64 = t.to(torch.float64)
        late = (t64 < lu_src) | (t64 < lu_dst)
        if bool(late.any()):
            i = int(late.nonzero()[0])
            raise ValueError(
                f"NodeMemory.update_state: event {i} of the batch (t={t[i].item()}) is older "
                f"than the last update of its nodes ({max(lu_src[i].item(), lu_dst[i].item())});"
                " events must be fed in chronological order")

        # One entry per endpoint, interleaved so each node's entries stay chronological.
        nodes = torch.stack([src, dst], 1).view(-1)
        pos_self = torch.stack([pos_src_c, pos_dst_c], 1).view(-1)
        if partner is None:
            others = memory[torch.stack([pos_dst_c, pos_src_c], 1).view(-1)]
        else:
            if partner[0].shape != (b, self.memory_dim) or partner[1].shape != (b, self.memory_dim):
                raise ValueError(f"NodeMemory.update_state: partner states must be two "
                                 f"[{b}, {self.memory_dim}] tensors")
            others = torch.stack([partner[0].detach(), partner[1].detach()], 1).view(-1, self.memory_dim)
        times = t64.repeat_interleave(2)
        feats = msg.to(self.msg_feat.dtype).repeat_interleave(2, dim=0)

        # Persist the updated memory of the batch's nodes (this consumes their old messages).
        batch_nodes = torch.unique(nodes)
        pos_uniq = torch.searchsorted(n_id, batch_nodes)
        self.memory[batch_nodes] = memory[pos_uniq]
        self.last_update[batch_nodes] = last_update[pos_uniq]
        if event_mask is not None:
            if event_mask.shape != (b,) or event_mask.dtype != torch.bool:
                raise ValueError(f"NodeMemory.update_state: event_mask must be a [{b}] bool tensor")
            self.msg_count[batch_nodes] = 0
            keep = event_mask.repeat_interleave(2)
            nodes, pos_self, others = nodes[keep], pos_self[keep], others[keep]
            times, feats = times[keep], feats[keep]
            if nodes.numel() == 0:
                return
        perm, uniq, counts, group = segment_layout(nodes)

        self.msg_count[uniq] = counts
        last_of = perm[torch.cumsum(counts, 0) - 1]
        self.msg_time[uniq] = times[last_of]
        if self.aggregator == "last":
            self.msg_other[uniq] = others[last_of]
            self.msg_feat[uniq] = feats[last_of]
        else:
            denom = counts.unsqueeze(1).to(memory.dtype)
            other = memory.new_zeros(uniq.numel(), self.memory_dim)
            other.index_add_(0, group, others[perm])
            self.msg_other[uniq] = other / denom
            feat = memory.new_zeros(uniq.numel(), self.edge_dim)
            feat.index_add_(0, group, feats[perm])
            self.msg_feat[uniq] = feat / denom
            dt = (times - last_update[pos_self]).to(memory.dtype)
            enc = memory.new_zeros(uniq.numel(), self.time_dim)
            enc.index_add_(0, group, self.time_enc(dt[perm]))
            self.msg_enc[uniq] = enc / denom

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"memory_dim={self.memory_dim}, time_dim={self.time_dim}, "
                f"edge_dim={self.edge_dim}, message={self.message!r}, "
                f"aggregator={self.aggregator!r}, updater={self.updater_name!r})")
