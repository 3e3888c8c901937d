r"""Graphons of graph collections: estimation, topology clustering, Gromov–Wasserstein distances.

The building blocks of W2PGNN (Cao et al., KDD 2023):

* :func:`aligned_mean`: the degree-sorted, zero-padded mean adjacency of a collection, built by
  one scatter of the edge list (no dense adjacency per graph);
* :func:`estimate_graphon`: a step function from it, by sorting-and-smoothing (``"sas"``: a
  block histogram then Chambolle total-variation denoising, Chan & Airoldi 2014) or by
  universal singular value thresholding (``"usvt"``, Chatterjee 2015);
* :func:`resize`: bilinear resampling of a step function to ``r x r``;
* :func:`topology_statistics`: the 8 statistics W2PGNN clusters graphs on, vectorised over the
  collection (closeness from one breadth-first search per graph);
* :func:`gw_distance` / :func:`gw_plan` / :func:`gw_plan_loss`: Gromov–Wasserstein between
  graphons with uniform measures, from POT (``pip install graphcl[w2pgnn]``), and the square
  loss of a fixed plan as a differentiable function of the first graphon (the envelope
  gradient used to fit mixing weights).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.data.collection import GraphBatch
from graphcl.nn.optional import optional_module

__all__ = ["ESTIMATORS", "aligned_mean", "estimate_graphon", "resize", "topology_statistics",
           "gw_distance", "gw_plan", "gw_plan_loss", "require_pot"]

ESTIMATORS = ("sas", "usvt")


def require_pot():
    r"""The ``ot`` module of POT, or an ImportError saying how to install it."""
    return optional_module("ot", "Gromov-Wasserstein distances", "w2pgnn", "pot")


def aligned_mean(gb: GraphBatch) -> Tensor:
    r"""The mean of the collection's adjacency matrices after each is sorted by degree
    (descending; ties by node order) and zero-padded to the largest graph, ``[N_max, N_max]``
    float64. Small graphs add zeros to the bottom-right: the estimate reflects the size
    distribution as well as the structure (as in sorting-and-smoothing)."""
    deg = gb.degrees()
    order = torch.argsort(-deg, stable=True)
    order = order[torch.argsort(gb.batch[order], stable=True)]
    sizes = gb.sizes()
    starts = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel()) - starts[gb.batch[order]]
    n_max = int(sizes.max())
    out = torch.zeros(n_max * n_max, dtype=torch.float64)
    src, dst = rank[gb.edge_index]
    out.index_add_(0, src * n_max + dst, torch.ones(src.numel(), dtype=torch.float64))
    return out.view(n_max, n_max) / gb.num_graphs


def _tv_denoise(h: Tensor, weight: float) -> Tensor:
    restoration = optional_module("skimage.restoration", "the 'sas' estimator's "
                                  "total-variation step", "w2pgnn", "scikit-image")
    return torch.from_numpy(restoration.denoise_tv_chambolle(h.numpy(), weight=weight))


def estimate_graphon(gb: GraphBatch, method: str = "sas", *, tv_weight: float | None = 0.1,
                     usvt_threshold: float = 2.02) -> Tensor:
    r"""A step-function graphon ``[K, K]`` (values in ``[0, 1]``, symmetric) of a collection.

    Args:
        gb (GraphBatch): the graphs.
        method (str, optional): ``"sas"`` — block size :math:`h = \lfloor\log_2 N\rfloor + 1`,
            the :math:`h\times h` block means of :func:`aligned_mean`
            (:math:`K = \lfloor N/h\rfloor`), then total-variation denoising; ``"usvt"`` —
            the aligned mean with its small singular values set to zero (below
            ``usvt_threshold``, see there), clipped to ``[0, 1]``
            (:math:`K = N`). (default: ``"sas"``)
        tv_weight (float, optional): the Chambolle denoising weight of ``"sas"`` (graphon
            values lie in ``[0, 1]``); ``None``: :math:`h`, as the released W2PGNN code — a
            weight of 5 or more flattens any graphon to nearly a constant (see the tests).
            (default: ``0.1``)
        usvt_threshold (float, optional): Chatterjee's constant; the cut is
            ``usvt_threshold`` :math:`\sqrt{N/M}` for the mean of :math:`M` graphs (the noise
            of a mean shrinks as :math:`1/\sqrt M`; the released code does not divide, and so
            zeroes any graphon whose top singular value is below :math:`2.02\sqrt N`).
            (default: ``2.02``)

    Raises:
        ValueError: an unknown ``method``.
    """
    if method not in ESTIMATORS:
        raise ValueError(f"unknown graphon estimator {method!r}; choose from {list(ESTIMATORS)}")
    mean = aligned_mean(gb)
    n = mean.size(0)
    if method == "usvt":
        u, s, vh = torch.linalg.svd(mean)
        cut = usvt_threshold * math.sqrt(n / gb.num_graphs)
        s = torch.where(s >= cut, s, torch.zeros_like(s))
        w = ((u * s) @ vh).clamp(0, 1)
        return (w + w.T) / 2
    h = int(math.log2(n)) + 1
    k = max(n // h, 1)
    blocks = F.avg_pool2d(mean[None, None], h, stride=h)[0, 0][:k, :k]
    w = _tv_denoise(blocks, float(h) if tv_weight is None else float(tv_weight))
    w = w.clamp(0, 1)
    return (w + w.T) / 2


def resize(w: Tensor, size: int) -> Tensor:
    r"""Bilinear resampling of a ``[K, K]`` graphon to ``[size, size]`` (pixel centres, as
    OpenCV's ``INTER_LINEAR``), float64."""
    if size < 1:
        raise ValueError(f"resolution must be >= 1, got {size}")
    w = w.double()
    if w.size(0) == size:
        return w.clone()
    return F.interpolate(w[None, None], size=(size, size), mode="bilinear",
                         align_corners=False)[0, 0]


# --------------------------------------------------------------------------------------------
# Topology statistics
# --------------------------------------------------------------------------------------------
STATISTICS = ("avg_degree", "degree_std", "density", "avg_closeness", "degree_pearson",
              "degree_assortativity", "transitivity", "avg_clustering")


def _per_graph_mean(values: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    s = torch.zeros(num_graphs, dtype=torch.float64).index_add_(0, batch, values.double())
    c = torch.bincount(batch, minlength=num_graphs).double()
    return s / c.clamp(min=1)


def _mean_closeness(gb: GraphBatch, sources: int = 128) -> Tensor:
    r"""Average closeness centrality of every graph (networkx's, ``wf_improved=True``), from
    one breadth-first search per source node (scipy's C code). A graph with more than
    ``sources`` nodes averages the closeness of ``sources`` evenly spaced nodes (each exact):
    an unbiased estimate that keeps large graphs (REDDIT, COLLAB) linear in their size."""
    from scipy.sparse.csgraph import shortest_path

    starts, ei, bounds = (t.numpy() for t in gb.grouped())
    out = np.zeros(gb.num_graphs)
    for g, n in enumerate(np.diff(starts).tolist()):
        if n < 2 or bounds[g + 1] == bounds[g]:
            continue
        e = ei[:, bounds[g]:bounds[g + 1]] - starts[g]
        a = sp.csr_matrix((np.ones(e.shape[1]), e), shape=(n, n))
        idx = np.unique(np.linspace(0, n - 1, min(n, sources)).round().astype(np.int64))
        d = shortest_path(a, unweighted=True, directed=False, indices=idx)
        finite = np.isfinite(d)
        reach = finite.sum(1)                      # reachable nodes, the node itself included
        total = np.where(finite, d, 0).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(total > 0, (reach - 1) / total * (reach - 1) / (n - 1), 0.0)
        out[g] = c.mean()
    return torch.from_numpy(out)


def _triangles(gb: GraphBatch, budget: int = 4_000_000) -> Tensor:
    r"""Triangles through every node, :math:`(A \odot A^2)` row sums / 2, on block-diagonal
    sparse chunks of graphs whose squared sizes stay within ``budget`` (bounding the memory
    of :math:`A^2` on dense collections)."""
    starts, ei, bounds = (t.numpy() for t in gb.grouped())
    cost = np.cumsum(np.diff(starts) ** 2)
    out = np.zeros(gb.num_nodes)
    g0 = 0
    while g0 < gb.num_graphs:
        base = cost[g0 - 1] if g0 else 0
        g1 = max(int(np.searchsorted(cost, base + budget, side="right")), g0 + 1)
        lo, hi = starts[g0], starts[g1]
        e = ei[:, bounds[g0]:bounds[g1]] - lo
        a = sp.csr_matrix((np.ones(e.shape[1]), e), shape=(hi - lo, hi - lo))
        out[lo:hi] = np.asarray(a.multiply(a @ a).sum(1)).ravel() / 2
        g0 = g1
    return torch.from_numpy(out)


def topology_statistics(gb: GraphBatch) -> Tensor:
    r"""The 8 statistics of every graph ``[G, 8]`` (order: :data:`STATISTICS`): average
    degree, degree std, density, average closeness centrality, degree Pearson correlation,
    degree assortativity, transitivity and average clustering coefficient — networkx's
    definitions, vectorised over the collection (closeness: exact up to 128 nodes, an unbiased
    estimate from 128 source nodes above). Undefined values (an edgeless graph's correlation, a
    one-node graph's density) are 0."""
    g, batch, ei = gb.num_graphs, gb.batch, gb.edge_index
    n_nodes = gb.sizes().double()
    deg = gb.degrees().double()
    avg = _per_graph_mean(deg, batch, g)
    std = (_per_graph_mean(deg ** 2, batch, g) - avg ** 2).clamp(min=0).sqrt()
    edges = torch.zeros(g, dtype=torch.float64).index_add_(0, batch, deg) / 2
    density = torch.where(n_nodes > 1, 2 * edges / (n_nodes * (n_nodes - 1)).clamp(min=1),
                          torch.zeros_like(n_nodes))
    # Pearson correlation of the degrees at the two ends of every edge (both directions)
    eb = batch[ei[0]]
    x, y = deg[ei[0]], deg[ei[1]]
    m = torch.bincount(eb, minlength=g).double().clamp(min=1)

    def esum(v: Tensor) -> Tensor:
        return torch.zeros(g, dtype=torch.float64).index_add_(0, eb, v)

    mx = esum(x) / m
    cov = esum(x * y) / m - mx * mx          # symmetric: the y-mean equals the x-mean
    var = esum(x * x) / m - mx * mx
    pearson = torch.where(var > 1e-12, cov / var.clamp(min=1e-12), torch.zeros_like(var))
    tri = _triangles(gb)
    pairs = deg * (deg - 1) / 2
    tri_g = torch.zeros(g, dtype=torch.float64).index_add_(0, batch, tri)
    pairs_g = torch.zeros(g, dtype=torch.float64).index_add_(0, batch, pairs)
    transitivity = torch.where(pairs_g > 0, tri_g / pairs_g.clamp(min=1), torch.zeros_like(tri_g))
    local = torch.where(pairs > 0, tri / pairs.clamp(min=1), torch.zeros_like(tri))
    clustering = _per_graph_mean(local, batch, g)
    closeness = _mean_closeness(gb)
    return torch.stack([avg, std, density, closeness, pearson, pearson, transitivity,
                        clustering], 1)


# --------------------------------------------------------------------------------------------
# Gromov–Wasserstein
# --------------------------------------------------------------------------------------------
def gw_distance(w1: Tensor, w2: Tensor, *, loss: str = "kl", floor: float = 1e-6,
                max_iter_emd: int = 1_000_000) -> float:
    r"""The Gromov–Wasserstein distance between two graphons (as ``[n, n]`` matrices with
    uniform node measures): POT's exact ``gromov_wasserstein2`` with ``loss`` (``"kl"`` or
    ``"square"``), then the square root, as W2PGNN reports it. Both graphons are floored at
    ``floor`` for the KL loss (its log terms); a tiny negative value is clamped to 0."""
    ot = require_pot()
    if loss not in ("kl", "square"):
        raise ValueError(f"loss must be 'kl' or 'square', got {loss!r}")
    a, b = w1.double().numpy(), w2.double().numpy()
    if loss == "kl":
        a, b = np.maximum(a, floor), np.maximum(b, floor)
    p = np.full(a.shape[0], 1.0 / a.shape[0])
    q = np.full(b.shape[0], 1.0 / b.shape[0])
    d = ot.gromov.gromov_wasserstein2(a, b, p, q, f"{loss}_loss", numItermaxEmd=max_iter_emd)
    return math.sqrt(max(float(d), 0.0))


def gw_plan(w1: Tensor, w2: Tensor, *, max_iter_emd: int = 1_000_000) -> Tensor:
    r"""An optimal square-loss Gromov–Wasserstein plan ``[n1, n2]`` between two graphons
    (uniform measures; POT's conditional gradient from the independent coupling)."""
    ot = require_pot()
    a, b = w1.detach().double().numpy(), w2.detach().double().numpy()
    p = np.full(a.shape[0], 1.0 / a.shape[0])
    q = np.full(b.shape[0], 1.0 / b.shape[0])
    return torch.from_numpy(ot.gromov.gromov_wasserstein(a, b, p, q, "square_loss",
                                                         numItermaxEmd=max_iter_emd))


def gw_plan_loss(w1: Tensor, w2: Tensor, plan: Tensor) -> Tensor:
    r"""The square-loss GW objective of a fixed ``plan`` between symmetric graphons,
    :math:`\sum_{ijkl}(W_1[i,k]-W_2[j,l])^2 T_{ij}T_{kl}`, differentiable in ``w1`` and
    ``w2``. At an optimal plan its gradient is the GW distance's (the envelope theorem)."""
    p, q = plan.sum(1), plan.sum(0)
    return (p @ (w1 ** 2) @ p + q @ (w2 ** 2) @ q
            - 2 * ((w1 @ plan @ w2.T) * plan).sum())
