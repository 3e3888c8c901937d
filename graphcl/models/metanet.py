r"""A graph metanetwork (Liu, Wang & Zhang, "Meta Pruning via Graph Metanetworks", arXiv
2506.12041; NG-GNN style): reads a network as a graph (:mod:`graphcl.nn.netgraph`) and writes
a network of the same architecture, as small residual edits of its weights.

Every layer passes messages along the weight edges in both directions with shared weights:

.. math::
    m_{ij} = \mathrm{SiLU}(A\hat h_i) \odot \mathrm{SiLU}(B\hat h_j) \odot \hat e_{ij},\quad
    h_i \mathrel{+}= W[\mathrm{mean}, \mathrm{std}, \max, \min]_j\, m_{ij},\quad
    e_{ij} \mathrel{+}= \mathrm{SiLU}(C\hat h_i) \odot \mathrm{SiLU}(D\hat h_j) \odot \hat e_{ij}

(:math:`\hat h` the non-affine layer norm of :math:`h`; on reversed edges :math:`\hat e = s
\odot e` with :math:`s = +1` on the first half of the channels and :math:`-1` on the second).
The outputs are ``x + ρ·Dec(h)`` and ``edge_attr + ρ·Dec(e)``: with a small ρ the metanetwork
starts close to the identity map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter


def _decoder(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, out))


class _EdgeConv(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.c, self.d = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.agg = nn.Linear(4 * hidden, hidden)

    def direction(self, hn: Tensor, e: Tensor, src: Tensor, dst: Tensor, count: Tensor
                  ) -> tuple[Tensor, Tensor]:
        n, hid = hn.size(0), hn.size(1)
        # index_select, whose backward is a scatter-add (indexing's is a slower index_put)
        a, b = F.silu(self.a(hn)), F.silu(self.b(hn))
        msg = a.index_select(0, dst) * b.index_select(0, src) * e
        mean = hn.new_zeros(n, hid).index_add_(0, dst, msg) / count
        sq = hn.new_zeros(n, hid).index_add_(0, dst, msg * msg) / count
        std = (sq - mean * mean).clamp(min=0).add(1e-8).sqrt()
        mx = scatter(msg, dst, 0, dim_size=n, reduce="max")
        mn = scatter(msg, dst, 0, dim_size=n, reduce="min")
        agg = self.agg(torch.cat([mean, std, mx, mn], -1))
        c, d = F.silu(self.c(hn)), F.silu(self.d(hn))
        return agg, c.index_select(0, dst) * d.index_select(0, src) * e

    def forward(self, h: Tensor, e: Tensor, edge_index: Tensor, sign: Tensor,
                counts: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        hn = F.layer_norm(h, h.shape[-1:])
        agg_f, de_f = self.direction(hn, e, src, dst, counts[0])
        agg_r, de_r = self.direction(hn, sign * e, dst, src, counts[1])
        return h + agg_f + agg_r, e + de_f + sign * de_r


class MetaNetwork(nn.Module):
    r"""The metanetwork (see the module docstring).

    Args:
        node_dim (int): node feature size (9 for :func:`~graphcl.nn.netgraph.network_to_graph`).
        edge_dim (int): edge feature size (the kernel area, e.g. 9).
        hidden (int, optional): (default: ``64``)
        num_layers (int, optional): (default: ``8``)
        rho (float, optional): the residual ratio of the outputs. (default: ``0.01``)
        edge_types (int, optional): edge types embedded with the edge features. (default: ``3``)
    """

    def __init__(self, node_dim: int, edge_dim: int, hidden: int = 64, num_layers: int = 8,
                 rho: float = 0.01, edge_types: int = 3) -> None:
        super().__init__()
        if hidden % 2:
            raise ValueError(f"MetaNetwork: hidden must be even (sign-flip halves), got {hidden}")
        self.rho = float(rho)
        self.node_in = nn.Linear(node_dim, hidden)
        self.edge_in = nn.Linear(edge_dim + edge_types, hidden)
        self.edge_types = edge_types
        self.convs = nn.ModuleList([_EdgeConv(hidden) for _ in range(num_layers)])
        self.node_out = _decoder(hidden, node_dim)
        self.edge_out = _decoder(hidden, edge_dim)
        sign = torch.ones(hidden)
        sign[hidden // 2:] = -1
        self.register_buffer("sign", sign)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, edge_type: Tensor
                ) -> tuple[Tensor, Tensor]:
        r"""Edited ``(x, edge_attr)`` of a network graph."""
        h = self.node_in(x)
        e = self.edge_in(torch.cat([edge_attr, F.one_hot(edge_type, self.edge_types).to(
            edge_attr.dtype)], -1))
        n = x.size(0)
        ones = x.new_ones(edge_index.size(1))
        counts = tuple(x.new_zeros(n).index_add_(0, idx, ones).clamp(min=1)[:, None]
                       for idx in (edge_index[1], edge_index[0]))
        for conv in self.convs:
            h, e = conv(h, e, edge_index, self.sign, counts)
        return x + self.rho * self.node_out(h), edge_attr + self.rho * self.edge_out(e)
