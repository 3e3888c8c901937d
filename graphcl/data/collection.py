r"""Collections of small graphs as one edge list, and 2-hop ego-networks of a large graph.

:class:`GraphBatch` holds many graphs as one undirected, loop-free edge list with a graph id
per node (PyG's ``Batch`` layout, without features): the input of the graphon estimators and
topology statistics of :mod:`graphcl.nn.graphon`. :func:`ego_networks` cuts a large graph into
the ego-networks of its nodes (the node-level input of W2PGNN and of GCC-style pre-training)
without a loop over nodes: the reachable sets come from sparse matrix products and the
induced edges from one sorted-key lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ["GraphBatch", "graph_batch", "ego_networks", "to_graph_list", "with_degree_features",
           "as_collection"]


@dataclass
class GraphBatch:
    r"""Graphs as one edge list.

    Attributes:
        edge_index (Tensor): ``[2, E]`` global node ids, both directions of every undirected
            edge, no self loops, no duplicates.
        batch (Tensor): ``[N]`` graph id of every node (sorted).
        num_graphs (int): number of graphs.
        name (str): what the graphs are (for error messages).
    """

    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    name: str = "collection"

    @property
    def num_nodes(self) -> int:
        return int(self.batch.numel())

    def sizes(self) -> Tensor:
        r"""Nodes per graph ``[G]``."""
        return torch.bincount(self.batch, minlength=self.num_graphs)

    def degrees(self) -> Tensor:
        r"""Degree of every node ``[N]`` (neighbours, each counted once)."""
        return torch.bincount(self.edge_index[0], minlength=self.num_nodes)

    def grouped(self) -> tuple[Tensor, Tensor, Tensor]:
        r"""``(node_ptr [G + 1], edge_index [2, E], edge_ptr [G + 1])``: the edges ordered by
        graph (stable), so that graph ``g`` owns nodes ``node_ptr[g]:node_ptr[g + 1]`` and
        edges ``edge_ptr[g]:edge_ptr[g + 1]``."""
        eb = self.batch[self.edge_index[0]]
        order = torch.argsort(eb, stable=True)
        counts = torch.bincount(eb, minlength=self.num_graphs)
        zero = counts.new_zeros(1)
        return (torch.cat([zero, self.sizes().cumsum(0)]), self.edge_index[:, order],
                torch.cat([zero, counts.cumsum(0)]))

    @staticmethod
    def concat(batches: Sequence[GraphBatch], name: str) -> GraphBatch:
        r"""Several batches as one (graphs renumbered in order)."""
        edges, batch, offset, g_off = [], [], 0, 0
        for b in batches:
            edges.append(b.edge_index + offset)
            batch.append(b.batch + g_off)
            offset += b.num_nodes
            g_off += b.num_graphs
        return GraphBatch(torch.cat(edges, 1), torch.cat(batch), g_off, name)

    def subset(self, graphs: Tensor | Sequence[int]) -> GraphBatch:
        r"""The graphs of the given ids, renumbered ``0..len(graphs)-1`` in that order."""
        ids = torch.as_tensor(graphs, dtype=torch.long)
        sizes = self.sizes()
        ptr = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])
        new_sizes = sizes[ids]
        node_map = torch.full((self.num_nodes,), -1, dtype=torch.long)
        old = torch.repeat_interleave(ptr[ids], new_sizes) + _ranks_in_runs(new_sizes)
        node_map[old] = torch.arange(old.numel())
        src, dst = node_map[self.edge_index]
        keep = (src >= 0) & (dst >= 0)
        batch = torch.repeat_interleave(torch.arange(ids.numel()), new_sizes)
        return GraphBatch(torch.stack([src[keep], dst[keep]]), batch, int(ids.numel()),
                          self.name)


def symmetric_pairs(pairs: Tensor, num_nodes: int) -> Tensor:
    r"""Both directions of every pair, without duplicates, sorted by (source, target)."""
    ei = torch.cat([pairs, pairs.flip(0)], dim=1)
    keys = torch.unique(ei[0] * num_nodes + ei[1])
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _ranks_in_runs(sizes: Tensor) -> Tensor:
    r"""``0..s-1`` for every run length ``s`` of ``sizes``, concatenated."""
    total = int(sizes.sum())
    starts = torch.repeat_interleave(sizes.cumsum(0) - sizes, sizes)
    return torch.arange(total) - starts


def _undirected(edge_index: Tensor, num_nodes: int) -> Tensor:
    return symmetric_pairs(edge_index[:, edge_index[0] != edge_index[1]], num_nodes)


def graph_batch(graphs: Sequence[Data], name: str = "collection") -> GraphBatch:
    r"""A list of graphs as one :class:`GraphBatch` (edges made undirected, self loops and
    duplicates dropped).

    Raises:
        ValueError: fewer than 2 graphs, or no graph with an edge (naming ``name``).
    """
    graphs = list(graphs)
    if len(graphs) < 2:
        raise ValueError(f"{name}: a graph collection needs at least 2 graphs, got {len(graphs)}")
    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    ptr = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])
    edges = torch.cat([g.edge_index.long() + ptr[i] for i, g in enumerate(graphs)], 1)
    n = int(ptr[-1])
    ei = _undirected(edges, n)
    if ei.numel() == 0:
        raise ValueError(f"{name}: none of its {len(graphs)} graphs has an edge")
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
    return GraphBatch(ei, batch, len(graphs), name)


def ego_networks(data: Data, centres: Tensor | None = None, *, hops: int = 2,
                 max_nodes: int | None = 1000, name: str = "graph"
                 ) -> tuple[GraphBatch, Tensor, Tensor]:
    r"""The ``hops``-hop ego-networks of ``centres`` in ``data`` (each the subgraph induced by
    the nodes within ``hops`` of its centre, as PyG's ``k_hop_subgraph`` on the undirected
    graph), dropping those with more than ``max_nodes`` nodes.

    Returns:
        (GraphBatch, Tensor, Tensor): the kept ego-networks (ego ``i`` is graph ``i``; inside
        it, its nodes in increasing original id); the original id of every node of the batch
        ``[N]``; the kept centres ``[G]``.

    Raises:
        ValueError: ``hops < 1``, a centre outside the graph, or no ego-network left.
    """
    if hops < 1:
        raise ValueError(f"ego_networks: hops must be >= 1, got {hops}")
    n = int(data.num_nodes)
    ei = _undirected(data.edge_index.long(), n)
    if centres is None:
        centres = torch.arange(n)
    centres = torch.as_tensor(centres, dtype=torch.long)
    if centres.numel() and (int(centres.min()) < 0 or int(centres.max()) >= n):
        raise ValueError(f"{name}: ego centres must lie in [0, {n}), got "
                         f"[{int(centres.min())}, {int(centres.max())}]")
    adj = sp.csr_matrix((np.ones(ei.size(1), dtype=np.int8), ei.numpy()), shape=(n, n))
    step = (adj + sp.identity(n, dtype=np.int8, format="csr")).astype(bool).tocsr()
    reach = step[centres.numpy()]
    for _ in range(hops - 1):
        reach = (reach @ step).astype(bool).tocsr()
    reach.sort_indices()
    sizes = np.diff(reach.indptr)
    keep = np.ones(len(sizes), dtype=bool) if max_nodes is None else sizes <= max_nodes
    if not keep.any():
        raise ValueError(f"{name}: every {hops}-hop ego-network has more than {max_nodes} nodes "
                         "(raise max_nodes)")
    reach = reach[np.flatnonzero(keep)]
    reach.sort_indices()
    sizes = np.diff(reach.indptr)
    ego = np.repeat(np.arange(len(sizes)), sizes)           # ego id of every ego node
    orig = reach.indices.astype(np.int64)                    # original id of every ego node
    # every (ego node, original neighbour) pair, then keep the neighbours inside the same ego
    deg = np.diff(adj.indptr)[orig]
    starts = np.repeat(adj.indptr[orig] - np.cumsum(deg) + deg, deg)
    nbr = adj.indices[starts + np.arange(int(deg.sum()))].astype(np.int64)
    src = np.repeat(np.arange(len(orig)), deg)
    keys = ego.astype(np.int64) * n + orig                  # sorted (CSR rows, sorted indices)
    want = ego[src].astype(np.int64) * n + nbr
    pos = np.searchsorted(keys, want)
    pos = np.minimum(pos, len(keys) - 1)
    inside = keys[pos] == want
    edge_index = torch.from_numpy(np.stack([src[inside], pos[inside]]))
    batch = torch.from_numpy(ego)
    gb = GraphBatch(edge_index, batch, int(len(sizes)), f"{name} ego-networks")
    return gb, torch.from_numpy(orig), centres[torch.from_numpy(np.flatnonzero(keep))]


def to_graph_list(gb: GraphBatch, x: Tensor | None = None) -> list[Data]:
    r"""A :class:`GraphBatch` as a list of :class:`Data` (``x``: features of every node of the
    batch, split with it)."""
    ptr, ei, eptr = gb.grouped()
    parts = torch.split(ei, eptr.diff().tolist(), dim=1)
    out = []
    for g, part in enumerate(parts):
        d = Data(edge_index=part - ptr[g], num_nodes=int(ptr[g + 1] - ptr[g]))
        if x is not None:
            d.x = x[int(ptr[g]):int(ptr[g + 1])]
        out.append(d)
    return out


def with_degree_features(graphs: Sequence[Data], cap: int) -> list[Data]:
    r"""Copies of ``graphs`` whose features ``x`` are the one-hot degree, capped at ``cap``
    (``[N, cap + 1]``): structural inputs shared by every dataset, so that a GNN pre-trained on
    one collection can be fine-tuned on another (as GIN's featureless TU inputs and GCC).
    Labels and other attributes are kept."""
    if cap < 1:
        raise ValueError(f"degree cap must be >= 1, got {cap}")
    graphs = list(graphs)
    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    ptr = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])
    src = torch.cat([g.edge_index[0].long() + ptr[i] for i, g in enumerate(graphs)])
    deg = torch.bincount(src, minlength=int(ptr[-1])).clamp(max=cap)
    x = torch.nn.functional.one_hot(deg, cap + 1).float()
    out = []
    for i, g in enumerate(graphs):
        d = g.clone()
        d.x = x[int(ptr[i]):int(ptr[i + 1])]
        out.append(d)
    return out


def as_collection(obj: Any, name: str, *, seed: int = 0, sample: int | None = None,
                  hops: int = 2, max_nodes: int | None = 1000) -> GraphBatch:
    r"""A dataset as a :class:`GraphBatch`: a list of graphs as it is; a single graph as the
    ego-networks of ``sample`` seeded random centres (``None``: every node).

    Raises:
        ValueError: an object that is neither (naming ``name``).
    """
    if isinstance(obj, list | tuple) and obj and all(isinstance(g, Data) for g in obj):
        return graph_batch(obj, name)
    if isinstance(obj, Data) and not all(hasattr(obj, k) for k in ("src", "dst", "t")):
        n = int(obj.num_nodes)
        centres = None
        if sample is not None and sample < n:
            gen = torch.Generator().manual_seed(int(seed))
            centres = torch.randperm(n, generator=gen)[:sample].sort().values
        return ego_networks(obj, centres, hops=hops, max_nodes=max_nodes, name=name)[0]
    raise ValueError(f"{name}: neither a graph collection nor a single static graph "
                     f"(got {type(obj).__name__})")
