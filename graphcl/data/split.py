r"""Leak-free edge splits for static link prediction.

Three ways to hold out links, all returning a :class:`LinkSplit`:

* :func:`random_link_split` — a seeded random split in the spirit of PyG's
  :class:`~torch_geometric.transforms.RandomLinkSplit` (validation/test ratios, negative ratios,
  directed or undirected).
* :func:`planetoid_ncnc_split` — the protocol of the NCN/NCNC authors (Wang et al., ICLR 2024) for
  Cora/CiteSeer/PubMed: PyG's ``train_test_split_edges`` at 0.2/0.2, then half of the validation
  positives move into train (70/10/20). Bit-exact with the authors' ``randomsplit`` for a seed.
* :func:`ogb_link_split` — the official OGB split from ``get_edge_split()``.

The guarantees, checked by ``tests/test_split.py``:

* the training graph (:meth:`LinkSplit.train_edge_index`) contains no validation or test positive;
* evaluation negatives are non-edges of the **full** graph, with no self loops, no duplicates and
  no overlap between the validation and test negatives;
* :func:`sample_train_negatives` draws fresh negatives per call against the **training** graph
  only. As in PyG's ``negative_sampling(train_edge_index)`` (the standard protocol and the NCNC
  code), such a negative can be a held-out validation/test positive: the training loop must not
  see the held-out edges, so it cannot exclude them.

Negatives are drawn exactly, without rejection loops: the non-edges are numbered implicitly by
their rank among all admissible pairs, a uniform rank is drawn, and the rank is mapped to its pair
with one :func:`torch.searchsorted` over the sorted keys of the forbidden pairs. Cost is
:math:`O(E \log E)` once plus :math:`O(k \log E)` per draw of :math:`k` pairs, memory
:math:`O(E + k)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "LinkSplit",
    "random_link_split",
    "planetoid_ncnc_split",
    "ogb_link_split",
    "sample_train_negatives",
    "kfold_node_split",
]


# --------------------------------------------------------------------------------------------
# The split object
# --------------------------------------------------------------------------------------------
@dataclass(repr=False, eq=False)
class LinkSplit:
    r"""Positive and negative edge sets of a link-prediction split.

    Every edge set is a ``LongTensor [2, E]``. For undirected splits each pair is stored once with
    ``u < v`` (sorted by ``(u, v)``), except for :func:`ogb_link_split`, which keeps OGB's order.

    Args:
        num_nodes (int): number of nodes of the graph.
        train_pos (Tensor): positive training pairs (once per undirected pair).
        valid_pos (Tensor): validation positives.
        valid_neg (Tensor): validation negatives (pairs). Empty ``[2, 0]`` when the negatives are
            one-vs-many (:obj:`valid_neg_dst`).
        test_pos (Tensor): test positives.
        test_neg (Tensor): test negatives (pairs), or empty as above.
        undirected (bool, optional): whether pairs are undirected; then the message-passing graph
            holds both directions. (default: :obj:`True`)
        valid_neg_dst (Tensor, optional): ``[E_valid, K]`` negative destinations of each
            validation source (OGB ``ogbl-citation2`` format, scored with MRR).
            (default: :obj:`None`)
        test_neg_dst (Tensor, optional): same for test. (default: :obj:`None`)
        train_edge_attr (dict, optional): extra per-training-edge tensors from OGB
            (``'weight'``, ``'year'`` of ``ogbl-collab``). (default: empty)
    """

    num_nodes: int
    train_pos: Tensor
    valid_pos: Tensor
    valid_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor
    undirected: bool = True
    valid_neg_dst: Tensor | None = None
    test_neg_dst: Tensor | None = None
    train_edge_attr: dict[str, Tensor] = field(default_factory=dict)
    # sorted keys u * N + v of the pairs a training negative may not be (cache)
    _forbidden_train_keys: Tensor | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.num_nodes) < 0:
            raise ValueError(f"LinkSplit: num_nodes must be >= 0, got {self.num_nodes}")
        self.num_nodes = int(self.num_nodes)
        for name in ("train_pos", "valid_pos", "valid_neg", "test_pos", "test_neg"):
            value = getattr(self, name)
            if not isinstance(value, Tensor) or value.dim() != 2 or value.size(0) != 2:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"LinkSplit.{name}: expected a LongTensor [2, E], got {shape}")
            if value.dtype != torch.long:
                setattr(self, name, value.long())
            if value.numel() and (int(value.min()) < 0 or int(value.max()) >= self.num_nodes):
                raise ValueError(
                    f"LinkSplit.{name}: node ids must lie in [0, {self.num_nodes}), "
                    f"got range [{int(value.min())}, {int(value.max())}]"
                )

    def train_edge_index(self) -> Tensor:
        r"""The message-passing graph: :obj:`train_pos` (both directions when undirected),
        coalesced (sorted by ``(row, col)``, no duplicates)."""
        ei = self.train_pos
        if self.undirected:
            ei = torch.cat([ei, ei.flip(0)], dim=1)
        keys = torch.unique(ei[0] * self.num_nodes + ei[1])
        return torch.stack([keys // self.num_nodes, keys % self.num_nodes])

    def to_split_edge(self) -> dict[str, dict[str, Tensor]]:
        r"""The OGB ``split_edge`` dictionary (``[E, 2]`` tensors), as ``get_edge_split()``
        returns it: ``{'train': {'edge'}, 'valid': {'edge', 'edge_neg'}, 'test': {...}}``.
        With one-vs-many negatives, ``'edge_neg'`` is replaced by ``'target_node_neg'``."""
        out: dict[str, dict[str, Tensor]] = {"train": {"edge": self.train_pos.t()}}
        out["train"].update(self.train_edge_attr)
        for name, pos, neg, neg_dst in (
            ("valid", self.valid_pos, self.valid_neg, self.valid_neg_dst),
            ("test", self.test_pos, self.test_neg, self.test_neg_dst),
        ):
            out[name] = {"edge": pos.t()}
            if neg_dst is not None:
                out[name]["target_node_neg"] = neg_dst
            else:
                out[name]["edge_neg"] = neg.t()
        return out

    def to(self, device: torch.device | str) -> LinkSplit:
        r"""A copy with every tensor on :obj:`device`."""
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device)

        return LinkSplit(
            self.num_nodes, move(self.train_pos), move(self.valid_pos), move(self.valid_neg),
            move(self.test_pos), move(self.test_neg), self.undirected,
            move(self.valid_neg_dst), move(self.test_neg_dst),
            {k: v.to(device) for k, v in self.train_edge_attr.items()},
        )

    def __repr__(self) -> str:
        def n(x: Tensor | None) -> str:
            return "None" if x is None else str(x.size(-1) if x.dim() == 2 and x.size(0) == 2
                                                else tuple(x.shape))

        neg_v = n(self.valid_neg) if self.valid_neg_dst is None else f"{n(self.valid_neg_dst)}"
        neg_t = n(self.test_neg) if self.test_neg_dst is None else f"{n(self.test_neg_dst)}"
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
            f"train={n(self.train_pos)}, valid={n(self.valid_pos)}/{neg_v}, "
            f"test={n(self.test_pos)}/{neg_t}, undirected={self.undirected})"
        )


# --------------------------------------------------------------------------------------------
# Implicit enumeration of admissible pairs
# --------------------------------------------------------------------------------------------
def _kth_missing(k: Tensor, forbidden: Tensor) -> Tensor:
    r"""The ``k``-th (0-based) integer of ``[0, inf)`` that is not in the sorted, unique tensor
    :obj:`forbidden`, for every entry of :obj:`k`."""
    if forbidden.numel() == 0:
        return k
    # forbidden[i] - i = how many admissible integers precede forbidden[i]
    gaps = forbidden - torch.arange(forbidden.numel(), device=forbidden.device)
    return k + torch.searchsorted(gaps, k, right=True)


def _triu_row_start(num_nodes: int, device: torch.device | None = None) -> Tensor:
    r"""Rank of the first strict-upper-triangle pair of each row, row-major order."""
    u = torch.arange(num_nodes, dtype=torch.long, device=device)
    return u * (2 * num_nodes - u - 1) // 2


def _triu_rank(row: Tensor, col: Tensor, num_nodes: int) -> Tensor:
    r"""Row-major rank of the pairs ``row < col`` among all strict-upper-triangle pairs."""
    return row * (2 * num_nodes - row - 1) // 2 + (col - row - 1)


def _triu_pair(rank: Tensor, num_nodes: int) -> Tensor:
    r"""Inverse of :func:`_triu_rank`: ``[2, k]`` pairs ``u < v``."""
    start = _triu_row_start(num_nodes, rank.device)
    row = torch.searchsorted(start, rank, right=True) - 1
    col = rank - start[row] + row + 1
    return torch.stack([row, col])


def _sample_distinct(population: int, num: int, generator: torch.Generator) -> Tensor:
    r"""``num`` distinct integers drawn uniformly from ``[0, population)``, in random order."""
    if num > population:
        raise ValueError(f"cannot draw {num} distinct negatives from {population} non-edges")
    if num == 0:
        return torch.empty(0, dtype=torch.long)
    if 4 * num >= population:
        return torch.randperm(population, generator=generator)[:num]
    # Sparse case: i.i.d. draws, keep the distinct ones; a uniform subset of a set of distinct
    # i.i.d. draws is a uniform subset of the population (exchangeability).
    size = num + num // 8 + 16
    while True:  # runs once with probability > 0.999 (num <= population / 4)
        found = torch.unique(torch.randint(population, (size,), generator=generator))
        if found.numel() >= num:
            return found[torch.randperm(found.numel(), generator=generator)[:num]]
        size *= 2


def _canonical_pairs(edge_index: Tensor, num_nodes: int, undirected: bool) -> Tensor:
    r"""Unique pairs sorted by ``(u, v)``, self loops dropped; ``u < v`` when undirected."""
    row, col = edge_index[0].long(), edge_index[1].long()
    keep = row != col
    row, col = row[keep], col[keep]
    if undirected:
        row, col = torch.minimum(row, col), torch.maximum(row, col)
    keys = torch.unique(row * num_nodes + col)
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _graph_of(data: Any, fn: str) -> tuple[Tensor, int]:
    edge_index = getattr(data, "edge_index", None)
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{fn}: data.edge_index must be a LongTensor [2, E]")
    num_nodes = getattr(data, "num_nodes", None)
    if num_nodes is None:
        raise ValueError(f"{fn}: data.num_nodes is not set")
    num_nodes = int(num_nodes)
    if edge_index.numel() and int(edge_index.max()) >= num_nodes:
        raise ValueError(
            f"{fn}: data.edge_index holds node id {int(edge_index.max())} "
            f">= num_nodes={num_nodes}"
        )
    if edge_index.numel() and int(edge_index.min()) < 0:
        raise ValueError(f"{fn}: data.edge_index holds a negative node id")
    return edge_index.long(), num_nodes


def _check_ratio(name: str, value: float, fn: str) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{fn}: {name} must be a float in [0, 1), got {value!r}")


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
def random_link_split(
    data: Any,
    val_ratio: float = 0.1,
    test_ratio: float = 0.2,
    neg_ratio_val: float = 1.0,
    neg_ratio_test: float = 1.0,
    seed: int = 0,
    *,
    undirected: bool = True,
) -> LinkSplit:
    r"""A seeded random link split, like PyG's
    :class:`~torch_geometric.transforms.RandomLinkSplit` with ``add_negative_train_samples=False``.

    Self loops and duplicate pairs are dropped first (for :obj:`undirected`, ``(u, v)`` and
    ``(v, u)`` are one pair). Then :math:`\lfloor r_{val} E \rfloor` pairs go to validation,
    :math:`\lfloor r_{test} E \rfloor` to test and the rest to train. Validation and test
    negatives are disjoint sets of non-edges of the **full** graph, ``int(ratio * #positives)``
    each, drawn uniformly without replacement.

    Args:
        data (Data): graph with :obj:`edge_index` ``[2, E]`` and :obj:`num_nodes`.
        val_ratio (float, optional): fraction of validation positives. (default: :obj:`0.1`)
        test_ratio (float, optional): fraction of test positives. (default: :obj:`0.2`)
        neg_ratio_val (float, optional): validation negatives per positive. (default: :obj:`1.0`)
        neg_ratio_test (float, optional): test negatives per positive. (default: :obj:`1.0`)
        seed (int, optional): seed of the local :class:`torch.Generator` (the global RNG is not
            touched). (default: :obj:`0`)
        undirected (bool, optional): treat edges as undirected pairs. (default: :obj:`True`)

    Raises:
        ValueError: ratios outside ``[0, 1)`` or summing to ``>= 1``, a graph without edges, or
            too few non-edges for the requested negatives.
    """
    fn = "random_link_split"
    _check_ratio("val_ratio", val_ratio, fn)
    _check_ratio("test_ratio", test_ratio, fn)
    if val_ratio + test_ratio >= 1.0:
        raise ValueError(f"{fn}: val_ratio + test_ratio must be < 1, got {val_ratio + test_ratio}")
    for name, value in (("neg_ratio_val", neg_ratio_val), ("neg_ratio_test", neg_ratio_test)):
        if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
            raise ValueError(f"{fn}: {name} must be a finite float >= 0, got {value!r}")
    edge_index, num_nodes = _graph_of(data, fn)
    pairs = _canonical_pairs(edge_index, num_nodes, undirected)
    num_edges = pairs.size(1)
    if num_edges == 0:
        raise ValueError(f"{fn}: the graph has no edges (self loops are ignored)")

    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(num_edges, generator=generator)
    n_v = int(math.floor(val_ratio * num_edges))
    n_t = int(math.floor(test_ratio * num_edges))
    if num_edges - n_v - n_t <= 0:
        raise ValueError(f"{fn}: no training edge left out of {num_edges}; lower the ratios")
    valid_pos = pairs[:, perm[:n_v].sort().values]
    test_pos = pairs[:, perm[n_v:n_v + n_t].sort().values]
    train_pos = pairs[:, perm[n_v + n_t:].sort().values]

    k_v, k_t = int(neg_ratio_val * n_v), int(neg_ratio_test * n_t)
    negatives = _sample_non_edges(pairs, num_nodes, k_v + k_t, generator, undirected, fn)
    valid_neg = _sort_pairs(negatives[:, :k_v], num_nodes)
    test_neg = _sort_pairs(negatives[:, k_v:], num_nodes)
    return LinkSplit(num_nodes, train_pos, valid_pos, valid_neg, test_pos, test_neg, undirected)


def _sort_pairs(pairs: Tensor, num_nodes: int) -> Tensor:
    keys = (pairs[0] * num_nodes + pairs[1]).sort().values
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _sample_non_edges(
    pairs: Tensor, num_nodes: int, num: int, generator: torch.Generator, undirected: bool, fn: str
) -> Tensor:
    r"""``num`` distinct non-edges (no self loops) of the graph whose canonical pairs are
    :obj:`pairs`, in random order; ``u < v`` when undirected."""
    if undirected:
        forbidden = _triu_rank(pairs[0], pairs[1], num_nodes).sort().values
        population = num_nodes * (num_nodes - 1) // 2 - forbidden.numel()
    else:
        loops = torch.arange(num_nodes) * (num_nodes + 1)
        forbidden = torch.unique(torch.cat([pairs[0] * num_nodes + pairs[1], loops]))
        population = num_nodes * num_nodes - forbidden.numel()
    if num > population:
        raise ValueError(
            f"{fn}: {num} negatives requested but the graph has only {population} non-edges"
        )
    ranks = _kth_missing(_sample_distinct(population, num, generator), forbidden)
    if undirected:
        return _triu_pair(ranks, num_nodes)
    return torch.stack([ranks // num_nodes, ranks % num_nodes])


def planetoid_ncnc_split(
    data: Any, seed: int, *, val_ratio: float = 0.1, test_ratio: float = 0.2
) -> LinkSplit:
    r"""The Planetoid link split of the NCN/NCNC code (``randomsplit``), 70/10/20 by default.

    The authors seed the global RNG with ``torch.manual_seed(run)`` (and ``np.random.seed``) and
    then, in this order:

    1. call PyG's ``train_test_split_edges(data, test_ratio, test_ratio)``: keep the pairs
       ``row < col`` of :obj:`data.edge_index` in their stored order, permute them with
       ``randperm``, take :math:`n_v = n_t = \lfloor 0.2 E \rfloor` validation and test positives,
       then draw :math:`n_v + n_t` negatives with a second ``randperm`` over the row-major list of
       upper-triangle non-edges of the full graph (first :math:`n_v` validation, next test);
    2. shuffle the validation positives with a third ``randperm`` and move all but the last
       ``int(n_v * val_ratio / test_ratio)`` of them into train;
    3. make every set undirected, keep ``u < v`` (sorted, deduplicated).

    This function makes the same three ``randperm`` calls on a local
    ``torch.Generator().manual_seed(seed)`` (same stream as ``torch.manual_seed(seed)`` on CPU),
    so the split is bit-identical to the authors' for the same seed and torch version, without
    touching the global RNG and without PyG's dense :math:`N \times N` mask. The second
    ``randperm`` still materialises all :math:`\approx N^2/2` non-edges' ranks (1.5 GB for
    PubMed), as the original does. Cora (5,278 edges) gives train 3,696, valid 527 (+1,055
    negatives, i.e. ~2:1) and test 1,055 (+1,055 negatives).

    Args:
        data (Data): undirected graph (both directions stored) with :obj:`num_nodes`; to match
            the authors, pass PyG's ``Planetoid`` edge order (coalesced).
        seed (int): the run index the authors pass to ``torch.manual_seed``.
        val_ratio (float, optional): final validation fraction. (default: :obj:`0.1`)
        test_ratio (float, optional): test fraction, also the ratio handed to
            ``train_test_split_edges`` for validation. (default: :obj:`0.2`)

    Raises:
        ValueError: a directed graph, bad ratios, or fewer than 10 edges (no validation edge
            would remain, which the original slicing silently mishandles).
    """
    fn = "planetoid_ncnc_split"
    _check_ratio("val_ratio", val_ratio, fn)
    _check_ratio("test_ratio", test_ratio, fn)
    if not 0 < val_ratio <= test_ratio or 2 * test_ratio >= 1:
        raise ValueError(
            f"{fn}: need 0 < val_ratio <= test_ratio < 0.5, got {val_ratio}, {test_ratio}"
        )
    edge_index, num_nodes = _graph_of(data, fn)
    from torch_geometric.utils import is_undirected

    if not is_undirected(edge_index, num_nodes=num_nodes):
        raise ValueError(f"{fn}: data.edge_index must hold both directions of every edge")
    row, col = edge_index
    upper = row < col
    row, col = row[upper], col[upper]
    num_edges = row.numel()
    n_v = int(math.floor(test_ratio * num_edges))
    n_t = int(math.floor(test_ratio * num_edges))
    num_val = int(n_v * val_ratio / test_ratio)
    if num_val == 0:
        raise ValueError(f"{fn}: {num_edges} edges are too few (no validation edge would remain)")

    generator = torch.Generator().manual_seed(int(seed))
    # 1. positives (first randperm)
    perm = torch.randperm(num_edges, generator=generator)
    row, col = row[perm], col[perm]
    val_pos = torch.stack([row[:n_v], col[:n_v]])
    test_pos = torch.stack([row[n_v:n_v + n_t], col[n_v:n_v + n_t]])
    train_pos = torch.stack([row[n_v + n_t:], col[n_v + n_t:]])
    # 1. negatives (second randperm) over the row-major upper-triangle non-edges
    forbidden = torch.unique(_triu_rank(row, col, num_nodes))
    population = num_nodes * (num_nodes - 1) // 2 - forbidden.numel()
    if population < n_v + n_t:
        raise ValueError(f"{fn}: only {population} non-edges for {n_v + n_t} negatives")
    chosen = torch.randperm(population, generator=generator)[:n_v + n_t]
    negatives = _triu_pair(_kth_missing(chosen, forbidden), num_nodes)
    # 2. half of the validation positives move to train (third randperm)
    val_pos = val_pos[:, torch.randperm(n_v, generator=generator)]
    train_pos = torch.cat([train_pos, val_pos[:, : n_v - num_val]], dim=1)
    val_pos = val_pos[:, n_v - num_val:]
    # 3. canonical u < v, sorted, deduplicated
    def canon(ei: Tensor) -> Tensor:
        return _canonical_pairs(ei, num_nodes, undirected=True)

    return LinkSplit(
        num_nodes,
        canon(train_pos),
        canon(val_pos),
        canon(negatives[:, :n_v]),
        canon(test_pos),
        canon(negatives[:, n_v:]),
        undirected=True,
    )


def ogb_link_split(
    split_edge: dict[str, dict[str, Tensor]], num_nodes: int, *, undirected: bool = True
) -> LinkSplit:
    r"""Wrap OGB's official split (``PygLinkPropPredDataset.get_edge_split()``).

    Pair format (``ogbl-collab``, ``-ppa``, ``-ddi``):
    ``{'train': {'edge': [E, 2], ...}, 'valid': {'edge', 'edge_neg'}, 'test': {...}}``; the
    ``[E, 2]`` tensors become ``[2, E]`` in OGB's order, and extra training keys (``'weight'``,
    ``'year'``) go to :attr:`LinkSplit.train_edge_attr`.

    Source/target format (``ogbl-citation2``): ``{'source_node', 'target_node'}`` and, for
    valid/test, ``'target_node_neg'`` ``[E, K]``; positives become pairs and the one-vs-many
    negatives go to :attr:`LinkSplit.valid_neg_dst` / :attr:`LinkSplit.test_neg_dst` (the pair
    tensors ``valid_neg``/``test_neg`` are then empty).

    Args:
        split_edge (dict): the split dictionary.
        num_nodes (int): number of nodes.
        undirected (bool, optional): whether the message-passing graph is symmetrised (OGB
            models, NCNC included, symmetrise ``citation2`` too). (default: :obj:`True`)

    Raises:
        ValueError: a missing split or key, or a tensor of the wrong shape.
    """
    fn = "ogb_link_split"
    for name in ("train", "valid", "test"):
        if name not in split_edge:
            raise ValueError(f"{fn}: split_edge has no {name!r} entry (keys: {list(split_edge)})")

    def pos_of(name: str) -> Tensor:
        part = split_edge[name]
        if "edge" in part:
            edge = torch.as_tensor(part["edge"]).long()
            if edge.dim() != 2 or edge.size(1) != 2:
                raise ValueError(f"{fn}: split_edge[{name!r}]['edge'] must be [E, 2], "
                                 f"got {tuple(edge.shape)}")
            return edge.t().contiguous()
        if "source_node" in part and "target_node" in part:
            src = torch.as_tensor(part["source_node"]).long().view(-1)
            dst = torch.as_tensor(part["target_node"]).long().view(-1)
            if src.numel() != dst.numel():
                raise ValueError(f"{fn}: split_edge[{name!r}] source_node/target_node lengths "
                                 f"differ ({src.numel()} vs {dst.numel()})")
            return torch.stack([src, dst])
        raise ValueError(f"{fn}: split_edge[{name!r}] needs 'edge' or 'source_node'/'target_node'"
                         f" (keys: {list(part)})")

    def neg_of(name: str) -> tuple[Tensor, Tensor | None]:
        part = split_edge[name]
        if "edge_neg" in part:
            neg = torch.as_tensor(part["edge_neg"]).long()
            if neg.dim() != 2 or neg.size(1) != 2:
                raise ValueError(f"{fn}: split_edge[{name!r}]['edge_neg'] must be [M, 2], "
                                 f"got {tuple(neg.shape)}")
            return neg.t().contiguous(), None
        if "target_node_neg" in part:
            neg_dst = torch.as_tensor(part["target_node_neg"]).long()
            if neg_dst.dim() != 2:
                raise ValueError(f"{fn}: split_edge[{name!r}]['target_node_neg'] must be [E, K]")
            return torch.empty(2, 0, dtype=torch.long), neg_dst
        raise ValueError(f"{fn}: split_edge[{name!r}] has no 'edge_neg' or 'target_node_neg' "
                         f"(keys: {list(part)})")

    valid_neg, valid_neg_dst = neg_of("valid")
    test_neg, test_neg_dst = neg_of("test")
    train_attr = {
        k: torch.as_tensor(v)
        for k, v in split_edge["train"].items()
        if k not in ("edge", "source_node", "target_node", "edge_neg", "target_node_neg")
    }
    return LinkSplit(
        num_nodes, pos_of("train"), pos_of("valid"), valid_neg, pos_of("test"), test_neg,
        undirected=undirected, valid_neg_dst=valid_neg_dst, test_neg_dst=test_neg_dst,
        train_edge_attr=train_attr,
    )


def sample_train_negatives(
    split: LinkSplit, num: int, generator: torch.Generator | None = None
) -> Tensor:
    r"""Fresh training negatives: ``num`` ordered pairs ``(u, v)``, ``u != v``, drawn uniformly
    with replacement among the non-edges of the **training** graph
    (:meth:`LinkSplit.train_edge_index`, both directions when undirected).

    Same distribution as PyG's ``negative_sampling(train_edge_index)``, but always exactly
    :obj:`num` pairs. Held-out validation/test positives are *not* excluded (they are unknown to
    training); this is the standard protocol (NCNC, PyG examples). Call once per epoch.

    Args:
        split (LinkSplit): the split (its forbidden-key table is cached on first use).
        num (int): number of pairs.
        generator (torch.Generator, optional): RNG on the split's device; the global RNG when
            :obj:`None`. (default: :obj:`None`)

    Returns:
        LongTensor ``[2, num]`` on the device of :obj:`split.train_pos`.
    """
    if int(num) < 0:
        raise ValueError(f"sample_train_negatives: num must be >= 0, got {num}")
    n = split.num_nodes
    if split._forbidden_train_keys is None:
        ei = split.train_edge_index()
        loops = torch.arange(n, device=ei.device) * (n + 1)
        split._forbidden_train_keys = torch.unique(torch.cat([ei[0] * n + ei[1], loops]))
    forbidden = split._forbidden_train_keys
    population = n * n - forbidden.numel()
    if population <= 0:
        raise ValueError("sample_train_negatives: the training graph is complete (no non-edge)")
    ranks = torch.randint(population, (int(num),), generator=generator, device=forbidden.device)
    keys = _kth_missing(ranks, forbidden)
    return torch.stack([keys // n, keys % n])



def kfold_node_split(num_nodes: int, index: int, *, num_folds: int = 5, seed: int = 101,
                     val_fraction: float = 0.2) -> dict[str, Tensor]:
    r"""ForwardGNN's node split (its ``DataSplit.generate_node_splits``): fold ``index`` of a
    shuffled ``num_folds``-fold split of all nodes is the test set (scikit-learn's ``KFold``,
    ``random_state=seed``); the rest is split by ``train_test_split(test_size=val_fraction,
    random_state=127 * index)`` into train and validation: 64 / 16 / 20 for the defaults.

    Returns:
        dict: boolean masks ``{"train", "valid", "test"}`` of length :obj:`num_nodes`.
    """
    import numpy as np
    from sklearn.model_selection import KFold, train_test_split

    if not 0 <= int(index) < int(num_folds):
        raise ValueError(f"kfold_node_split: index must be in [0, {num_folds}), got {index}")
    if num_nodes < num_folds:
        raise ValueError(f"kfold_node_split: {num_nodes} nodes cannot make {num_folds} folds")
    _check_ratio("val_fraction", val_fraction, "kfold_node_split")
    folds = KFold(n_splits=int(num_folds), shuffle=True, random_state=int(seed))
    rest, test = list(folds.split(np.arange(num_nodes)))[int(index)]
    train, valid = train_test_split(rest, test_size=val_fraction, random_state=127 * int(index))
    masks = {}
    for name, idx in (("train", train), ("valid", valid), ("test", test)):
        m = torch.zeros(num_nodes, dtype=torch.bool)
        m[torch.as_tensor(np.sort(idx))] = True
        masks[name] = m
    return masks
