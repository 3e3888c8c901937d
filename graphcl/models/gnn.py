r"""A plain message-passing classifier (GCN, GraphSAGE, GAT or GIN) for nodes or graphs: the
baseline that layer-local training, unlearning and continual learning are measured against."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE

CONVS = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT, "gin": GIN}
POOLS = {"mean": global_mean_pool, "add": global_add_pool, "max": global_max_pool}


class GNNClassifier(torch.nn.Module):
    r"""``num_layers`` message-passing layers of PyG's basic GNN models, then, for graph
    classification, a readout (``pool``) and a linear classifier.

    Args:
        in_channels (int): input features.
        hidden_channels (int): hidden size.
        out_channels (int): classes.
        num_layers (int, optional): message-passing layers. (default: ``2``)
        conv (str, optional): ``"gcn"``, ``"sage"``, ``"gat"`` or ``"gin"``. (default: ``"gcn"``)
        dropout (float, optional): dropout between layers. (default: ``0.5``)
        heads (int, optional): attention heads of GAT (hidden size split across them).
            (default: ``8``)
        pool (str, optional): ``None`` for node classification, else ``"mean"``, ``"add"`` or
            ``"max"`` readout for graph classification. (default: ``None``)
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int = 2, conv: str = "gcn", dropout: float = 0.5, heads: int = 8,
                 pool: str | None = None) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {sorted(CONVS)}, got {conv!r}")
        if pool is not None and pool not in POOLS:
            raise ValueError(f"pool must be None or one of {sorted(POOLS)}, got {pool!r}")
        kwargs: dict[str, Any] = {"heads": heads} if conv == "gat" else {}
        node_out = out_channels if pool is None else hidden_channels
        self.gnn = CONVS[conv](in_channels, hidden_channels, num_layers, node_out,
                               dropout=dropout, **kwargs)
        self.pool = pool
        self.head = torch.nn.Linear(hidden_channels, out_channels) if pool else None

    def forward(self, x: Any, edge_index: Tensor | None = None, batch: Tensor | None = None
                ) -> Tensor:
        if edge_index is None:  # a PyG Batch
            x, edge_index, batch = x.x, x.edge_index, x.batch
        h = self.gnn(x, edge_index)
        if self.pool is None:
            return h
        if batch is None:
            batch = torch.zeros(h.size(0), dtype=torch.long)
        return self.head(torch.relu(POOLS[self.pool](h, batch)))
