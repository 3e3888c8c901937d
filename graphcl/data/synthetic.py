r"""Seeded synthetic graphs for tests, examples and the embedded default dataset.

* :func:`attributed_sbm` — a static stochastic block model with block-correlated features and
  node labels (a node-classification / link-prediction toy).
* :func:`temporal_sbm_stream` — an event stream mixing SBM events, repeated interactions and
  triadic closures (``TemporalData``).
* :func:`signed_temporal_stream` — a signed event stream obeying structural balance: the sign of
  an edge that closes a wedge is the product of the wedge's two signs.
* :func:`graphon_graphs` — graph collections sampled from a graphon :math:`W(u, v)`.

Every generator is a deterministic function of its arguments (own :class:`torch.Generator`, the
global RNG is untouched). Streams are generated in chunks of events: events of one chunk see the
history up to the chunk's start, which keeps the generation vectorised (the loop runs over at
most 32 chunks, not over events). ``TemporalData.num_nodes`` is PyG's property (largest id + 1):
an ``int`` attribute cannot be stored in a ``TemporalData``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data, TemporalData

from graphcl.data.collection import symmetric_pairs
from graphcl.data.split import _sample_distinct, _triu_pair

__all__ = [
    "attributed_sbm",
    "temporal_sbm_stream",
    "signed_temporal_stream",
    "graphon_graphs",
    "GRAPHONS",
]


def _check_int(name: str, value: Any, low: int, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{fn}: {name} must be an int >= {low}, got {value!r}")
    return value


def _check_prob(name: str, value: Any, fn: str) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{fn}: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# Static attributed SBM
# --------------------------------------------------------------------------------------------
def attributed_sbm(
    num_nodes: int = 1000,
    num_blocks: int = 5,
    p_in: float = 0.05,
    p_out: float = 0.002,
    num_features: int = 32,
    seed: int = 0,
    *,
    feature_noise: float = 1.0,
) -> Data:
    r"""Stochastic block model with Gaussian features centred on a per-block mean.

    Nodes get balanced random blocks :math:`y_i`; a pair is an edge with probability
    :math:`p_{in}` inside a block and :math:`p_{out}` across; features are
    :math:`x_i = \mu_{y_i} + \sigma \varepsilon_i` with :math:`\mu_k, \varepsilon_i \sim
    \mathcal{N}(0, I)`. Edges are drawn exactly per block pair (a binomial count, then distinct
    pairs), in :math:`O(N + E)`.

    Args:
        num_nodes (int, optional): nodes. (default: :obj:`1000`)
        num_blocks (int, optional): blocks (= classes). (default: :obj:`5`)
        p_in (float, optional): edge probability inside a block. (default: :obj:`0.05`)
        p_out (float, optional): edge probability across blocks. (default: :obj:`0.002`)
        num_features (int, optional): feature dimension. (default: :obj:`32`)
        seed (int, optional): seed. (default: :obj:`0`)
        feature_noise (float, optional): :math:`\sigma`. (default: :obj:`1.0`)

    Returns:
        Data: ``x`` float ``[N, F]``, ``edge_index`` ``[2, 2E]`` undirected and coalesced,
        ``y`` ``[N]``, 60/20/20 ``train_mask``/``val_mask``/``test_mask``, ``num_nodes``.
    """
    fn = "attributed_sbm"
    _check_int("num_nodes", num_nodes, 1, fn)
    _check_int("num_blocks", num_blocks, 1, fn)
    _check_int("num_features", num_features, 0, fn)
    p_in, p_out = _check_prob("p_in", p_in, fn), _check_prob("p_out", p_out, fn)
    if num_blocks > num_nodes:
        raise ValueError(f"{fn}: num_blocks={num_blocks} > num_nodes={num_nodes}")
    g = torch.Generator().manual_seed(int(seed))
    y = torch.randperm(num_nodes, generator=g) % num_blocks
    members = [torch.nonzero(y == k).view(-1) for k in range(num_blocks)]
    pairs = []
    for a in range(num_blocks):  # loop over block pairs, not nodes
        for b in range(a, num_blocks):
            na, nb = members[a].numel(), members[b].numel()
            population = na * (na - 1) // 2 if a == b else na * nb
            p = p_in if a == b else p_out
            if population == 0 or p == 0.0:
                continue
            count = int(torch.binomial(torch.tensor([float(population)], dtype=torch.float64),
                                       torch.tensor([p], dtype=torch.float64), generator=g))
            ranks = _sample_distinct(population, count, g)
            if a == b:
                local = _triu_pair(ranks, na)
                pairs.append(members[a][local])
            else:
                pairs.append(torch.stack([members[a][ranks // nb], members[b][ranks % nb]]))
    pairs = torch.cat(pairs, dim=1) if pairs else torch.empty(2, 0, dtype=torch.long)
    centers = torch.randn(num_blocks, num_features, generator=g)
    x = centers[y] + feature_noise * torch.randn(num_nodes, num_features, generator=g)
    perm = torch.randperm(num_nodes, generator=g)
    n_train, n_val = int(0.6 * num_nodes), int(0.2 * num_nodes)
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:n_train]] = True
    masks[1][perm[n_train:n_train + n_val]] = True
    masks[2][perm[n_train + n_val:]] = True
    return Data(
        x=x, edge_index=symmetric_pairs(pairs, num_nodes), y=y,
        train_mask=masks[0], val_mask=masks[1], test_mask=masks[2], num_nodes=num_nodes,
    )


# --------------------------------------------------------------------------------------------
# Event streams
# --------------------------------------------------------------------------------------------
class _IncidenceHistory:
    r"""Past events incident to each node, as CSR over (node, event id), rebuilt per chunk."""

    def __init__(self, src: Tensor, dst: Tensor, num_nodes: int) -> None:
        ids = torch.arange(src.numel())
        node = torch.cat([src, dst])
        other = torch.cat([dst, src])
        event = torch.cat([ids, ids])
        order = torch.argsort(node, stable=True)
        self.other, self.event = other[order], event[order]
        self.ptr = torch.searchsorted(node[order], torch.arange(num_nodes + 1))

    def pick(self, nodes: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        r"""A uniformly random past incident event of each node: ``(ok, other, event)``."""
        deg = self.ptr[nodes + 1] - self.ptr[nodes]
        ok = deg > 0
        offset = (torch.rand(nodes.numel(), generator=g) * deg).long()
        idx = (self.ptr[nodes] + offset).clamp_max(max(self.other.numel() - 1, 0))
        if self.other.numel() == 0:
            zero = torch.zeros_like(nodes)
            return ok, zero, zero
        return ok, self.other[idx], self.event[idx]


def _chunks(num_events: int) -> list[int]:
    num_chunks = max(1, min(32, num_events // 64))
    base, extra = divmod(num_events, num_chunks)
    return [base + (i < extra) for i in range(num_chunks)]


def _timestamps(num_events: int, g: torch.Generator) -> Tensor:
    # int64 seconds, non-decreasing, with ties (several events per second happen in real data)
    return torch.cumsum(torch.randint(0, 3, (num_events,), generator=g), 0)


def temporal_sbm_stream(
    num_nodes: int = 200,
    num_events: int = 5000,
    num_blocks: int = 4,
    p_repeat: float = 0.5,
    p_triadic: float = 0.2,
    seed: int = 0,
    *,
    p_in: float = 0.9,
    msg_dim: int = 8,
) -> TemporalData:
    r"""Event stream on an SBM with repeated interactions and triadic closures.

    Each event picks a source with heavy-tailed activity, then its kind: with probability
    :obj:`p_repeat` a *repeat* (a random past neighbour of the source), with probability
    :obj:`p_triadic` a *triadic closure* (a random past neighbour of a random past neighbour),
    otherwise an *SBM* event (a destination in the source's block with probability :obj:`p_in`,
    else in another block). A repeat or closure without the needed history becomes an SBM event.

    Args:
        num_nodes (int, optional): nodes. (default: :obj:`200`)
        num_events (int, optional): events. (default: :obj:`5000`)
        num_blocks (int, optional): blocks. (default: :obj:`4`)
        p_repeat (float, optional): repeat probability. (default: :obj:`0.5`)
        p_triadic (float, optional): triadic-closure probability. (default: :obj:`0.2`)
        seed (int, optional): seed. (default: :obj:`0`)
        p_in (float, optional): SBM events staying inside the block. (default: :obj:`0.9`)
        msg_dim (int, optional): message dimension. (default: :obj:`8`)

    Returns:
        TemporalData: ``src``, ``dst``, ``t`` (int64, sorted, with ties), ``msg`` float
        ``[E, msg_dim]`` (a per-kind embedding plus noise), ``event_type`` (0 SBM, 1 repeat,
        2 triadic), ``block`` ``[E, 2]`` (blocks of the endpoints).
    """
    fn = "temporal_sbm_stream"
    _check_int("num_nodes", num_nodes, 2, fn)
    _check_int("num_events", num_events, 1, fn)
    _check_int("num_blocks", num_blocks, 1, fn)
    _check_int("msg_dim", msg_dim, 0, fn)
    p_repeat, p_triadic = _check_prob("p_repeat", p_repeat, fn), _check_prob("p_triadic",
                                                                                p_triadic, fn)
    p_in = _check_prob("p_in", p_in, fn)
    if p_repeat + p_triadic > 1.0:
        raise ValueError(f"{fn}: p_repeat + p_triadic must be <= 1, got {p_repeat + p_triadic}")
    if 2 * num_blocks > num_nodes:
        raise ValueError(f"{fn}: need at least 2 nodes per block ({num_blocks} blocks, "
                         f"{num_nodes} nodes)")
    g = torch.Generator().manual_seed(int(seed))
    node_block = torch.randperm(num_nodes, generator=g) % num_blocks
    by_block = torch.argsort(node_block, stable=True)
    size = torch.bincount(node_block, minlength=num_blocks)
    start = torch.cumsum(size, 0) - size
    activity = torch.empty(num_nodes).exponential_(generator=g) ** 2  # heavy-tailed activity

    src_all, dst_all, kind_all = [], [], []
    history = _IncidenceHistory(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long),
                                num_nodes)
    for chunk in _chunks(num_events):  # loop over chunks (vectorised inside), not events
        src = torch.multinomial(activity, chunk, replacement=True, generator=g)
        u = torch.rand(chunk, generator=g)
        kind = torch.where(u < p_repeat, 1, torch.where(u < p_repeat + p_triadic, 2, 0))
        # SBM destinations (used for kind 0 and as the fallback)
        other_block = (node_block[src] + torch.randint(1, max(num_blocks, 2), (chunk,),
                                                       generator=g)) % num_blocks
        inside = torch.rand(chunk, generator=g) < p_in
        blk = torch.where(inside | (num_blocks == 1), node_block[src], other_block)
        off = (torch.rand(chunk, generator=g) * size[blk]).long()
        dst = by_block[start[blk] + off]
        clash = dst == src  # move to the next member of the block
        dst[clash] = by_block[start[blk[clash]] + (off[clash] + 1) % size[blk[clash]]]
        # repeats
        ok1, nbr, _ = history.pick(src, g)
        rep = (kind == 1) & ok1
        dst = torch.where(rep, nbr, dst)
        # triadic closures s - w - v
        ok2, v, _ = history.pick(nbr, g)
        tri = (kind == 2) & ok1 & ok2 & (v != src)
        dst = torch.where(tri, v, dst)
        kind = torch.where(rep, 1, torch.where(tri, 2, 0))
        src_all.append(src)
        dst_all.append(dst)
        kind_all.append(kind)
        history = _IncidenceHistory(torch.cat(src_all), torch.cat(dst_all), num_nodes)
    src, dst, kind = torch.cat(src_all), torch.cat(dst_all), torch.cat(kind_all)
    t = _timestamps(num_events, g)
    embed = torch.randn(3, msg_dim, generator=g)
    msg = embed[kind] + 0.1 * torch.randn(num_events, msg_dim, generator=g)
    return TemporalData(
        src=src, dst=dst, t=t, msg=msg, event_type=kind,
        block=torch.stack([node_block[src], node_block[dst]], dim=1),
    )


def signed_temporal_stream(
    num_nodes: int = 200,
    num_events: int = 5000,
    seed: int = 0,
    *,
    p_triadic: float = 0.5,
    noise: float = 0.0,
) -> TemporalData:
    r"""Signed event stream that obeys structural balance (Heider; Cartwright and Harary).

    Nodes belong to one of two factions :math:`f_i \in \{-1, +1\}`. An event is either a *base*
    edge to a uniform random node with sign :math:`f_s f_d`, or (probability :obj:`p_triadic`,
    when the history allows) a *closing* edge: from a random past edge :math:`e_1 = (s, w)` and a
    random past edge :math:`e_2 = (w, v)`, :math:`v \ne s`, the new edge :math:`(s, v)` gets

    .. math::
        \sigma(s, v) = \sigma(e_1)\,\sigma(e_2).

    Every sign is then flipped with probability :obj:`noise`. With ``noise=0`` the stream is
    perfectly balanced.

    Args:
        num_nodes (int, optional): nodes. (default: :obj:`200`)
        num_events (int, optional): events. (default: :obj:`5000`)
        seed (int, optional): seed. (default: :obj:`0`)
        p_triadic (float, optional): share of wedge-closing events. (default: :obj:`0.5`)
        noise (float, optional): sign-flip probability. (default: :obj:`0.0`)

    Returns:
        TemporalData: ``src``, ``dst``, ``t`` (int64, sorted), ``msg`` ``[E, 0]``, ``sign``
        (long, +1/-1), ``weight`` (float, = sign), ``triangle`` ``[E, 2]`` (event ids of
        :math:`e_1, e_2` for closing events, -1 otherwise), ``faction`` ``[E, 2]`` (the endpoints'
        factions).
    """
    fn = "signed_temporal_stream"
    _check_int("num_nodes", num_nodes, 3, fn)
    _check_int("num_events", num_events, 1, fn)
    p_triadic, noise = _check_prob("p_triadic", p_triadic, fn), _check_prob("noise", noise, fn)
    g = torch.Generator().manual_seed(int(seed))
    faction = torch.where(torch.rand(num_nodes, generator=g) < 0.5, -1, 1)
    src_all, dst_all, sign_all, tri_all = [], [], [], []
    signs = torch.empty(0, dtype=torch.long)
    history = _IncidenceHistory(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long),
                                num_nodes)
    for chunk in _chunks(num_events):  # loop over chunks (vectorised inside), not events
        src = torch.randint(num_nodes, (chunk,), generator=g)
        dst = (src + torch.randint(1, num_nodes, (chunk,), generator=g)) % num_nodes
        sign = faction[src] * faction[dst]
        want = torch.rand(chunk, generator=g) < p_triadic
        ok1, w, e1 = history.pick(src, g)
        ok2, v, e2 = history.pick(w, g)
        close = want & ok1 & ok2 & (v != src)
        dst = torch.where(close, v, dst)
        if signs.numel():
            sign = torch.where(close, signs[e1] * signs[e2], sign)
        flip = torch.rand(chunk, generator=g) < noise
        sign = torch.where(flip, -sign, sign)
        tri = torch.where(close.view(-1, 1), torch.stack([e1, e2], 1), -1)
        src_all.append(src)
        dst_all.append(dst)
        sign_all.append(sign)
        tri_all.append(tri)
        signs = torch.cat(sign_all)
        history = _IncidenceHistory(torch.cat(src_all), torch.cat(dst_all), num_nodes)
    src, dst = torch.cat(src_all), torch.cat(dst_all)
    return TemporalData(
        src=src, dst=dst, t=_timestamps(num_events, g), msg=torch.zeros(num_events, 0),
        sign=signs, weight=signs.float(), triangle=torch.cat(tri_all),
        faction=torch.stack([faction[src], faction[dst]], dim=1),
    )


# --------------------------------------------------------------------------------------------
# Graphons
# --------------------------------------------------------------------------------------------
def _sbm2(u: Tensor, v: Tensor) -> Tensor:
    return torch.where((u < 0.5) == (v < 0.5), 0.8, 0.1)


def _smooth(u: Tensor, v: Tensor) -> Tensor:
    return u * v


def _exp_decay(u: Tensor, v: Tensor) -> Tensor:
    return torch.exp(-torch.maximum(u, v) ** 0.75)


def _erdos_renyi(u: Tensor, v: Tensor) -> Tensor:
    return torch.full(torch.broadcast_shapes(u.shape, v.shape), 0.2)


#: Named graphons: ``'sbm2'`` (two blocks, 0.8 / 0.1), ``'smooth'`` (:math:`uv`),
#: ``'exp'`` (:math:`e^{-\max(u,v)^{3/4}}`), ``'er'`` (constant 0.2).
GRAPHONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "sbm2": _sbm2,
    "smooth": _smooth,
    "exp": _exp_decay,
    "er": _erdos_renyi,
}


def graphon_graphs(
    graphon: str | Callable[[Tensor, Tensor], Tensor],
    num_graphs: int,
    num_nodes: int | tuple[int, int],
    seed: int = 0,
) -> list[Data]:
    r"""Sample graphs from a graphon (Lovász and Szegedy, 2006).

    For each graph, latent positions :math:`u_i \sim U[0, 1]` and independent edges
    :math:`A_{ij} \sim \mathrm{Bernoulli}(W(u_i, u_j))`, :math:`i < j` (no self loops).

    Args:
        graphon (str or callable): a name of :data:`GRAPHONS` or a function ``W(u, v)`` that
            broadcasts over tensors in :math:`[0, 1]` and returns probabilities.
        num_graphs (int): number of graphs.
        num_nodes (int or tuple): nodes per graph, or an inclusive range ``(low, high)`` drawn
            uniformly per graph.
        seed (int, optional): seed. (default: :obj:`0`)

    Returns:
        list[Data]: ``edge_index`` (undirected, coalesced), ``num_nodes``, ``u`` ``[N]``.
    """
    fn = "graphon_graphs"
    if isinstance(graphon, str):
        if graphon not in GRAPHONS:
            raise ValueError(f"{fn}: unknown graphon {graphon!r}; named ones: {sorted(GRAPHONS)}")
        w = GRAPHONS[graphon]
    elif callable(graphon):
        w = graphon
    else:
        raise ValueError(f"{fn}: graphon must be a name or a callable W(u, v), got {graphon!r}")
    _check_int("num_graphs", num_graphs, 0, fn)
    if isinstance(num_nodes, tuple):
        low, high = num_nodes
        _check_int("num_nodes[0]", low, 1, fn)
        _check_int("num_nodes[1]", high, low, fn)
    else:
        low = high = _check_int("num_nodes", num_nodes, 1, fn)
    g = torch.Generator().manual_seed(int(seed))
    sizes = torch.randint(low, high + 1, (num_graphs,), generator=g).tolist()
    graphs = []
    for n in sizes:  # one graph per iteration
        u = torch.rand(n, generator=g)
        prob = torch.as_tensor(w(u.view(-1, 1), u.view(1, -1)), dtype=torch.float)
        if prob.shape != (n, n):
            raise ValueError(f"{fn}: W(u, v) must broadcast to [{n}, {n}], got {tuple(prob.shape)}")
        if bool(((prob < 0) | (prob > 1) | prob.isnan()).any()):
            raise ValueError(f"{fn}: W(u, v) returned values outside [0, 1]")
        upper = (torch.rand(n, n, generator=g) < prob).triu(diagonal=1)
        pairs = upper.nonzero().t()
        graphs.append(Data(edge_index=symmetric_pairs(pairs, n), num_nodes=n, u=u))
    return graphs


def graph_collection(num_graphs: int = 200, num_nodes: tuple[int, int] = (12, 30),
                     graphons: tuple[str, ...] = ("sbm2", "er"), seed: int = 0) -> list[Data]:
    r"""A labelled graph-classification collection: ``num_graphs`` graphs drawn in equal
    shares from each graphon of ``graphons`` (the class ``y`` is the graphon's index), in a
    seeded random order; node features ``x`` are the one-hot degree (capped at 9) and a
    constant, as GIN's featureless TU inputs.

    Returns:
        list[Data]: ``x`` ``[N, 11]``, ``edge_index``, ``y`` ``[1]``, ``num_nodes``.
    """
    fn = "graph_collection"
    _check_int("num_graphs", num_graphs, len(graphons), fn)
    g = torch.Generator().manual_seed(int(seed))
    per = [num_graphs // len(graphons) + (i < num_graphs % len(graphons))
           for i in range(len(graphons))]
    graphs: list[Data] = []
    for label, (name, n) in enumerate(zip(graphons, per, strict=True)):
        sub_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        for d in graphon_graphs(name, n, num_nodes, seed=sub_seed):
            deg = torch.zeros(d.num_nodes, dtype=torch.long).scatter_add_(
                0, d.edge_index[0], torch.ones(d.edge_index.size(1), dtype=torch.long))
            x = torch.cat([torch.nn.functional.one_hot(deg.clamp(max=9), 10).float(),
                           torch.ones(d.num_nodes, 1)], 1)
            graphs.append(Data(x=x, edge_index=d.edge_index, num_nodes=d.num_nodes,
                               y=torch.tensor([label])))
    order = torch.randperm(len(graphs), generator=g).tolist()
    return [graphs[i] for i in order]


def image_classes(num_train: int = 800, num_test: int = 200, size: int = 12,
                  seed: int = 0) -> dict[str, Tensor]:
    r"""A 4-class image set in MNIST's layout (``uint8`` images, ``train_*`` / ``test_*``
    keys), translation-invariant so that a globally pooled CNN can learn it: over uniform
    noise, class 0 draws a bright horizontal bar, class 1 a vertical bar, class 2 both (a
    cross), class 3 a diagonal stripe, each at a random row, column or offset.

    Returns:
        dict: ``train_images [num_train, size, size]``, ``train_labels``, ``test_images``,
        ``test_labels``.
    """
    fn = "image_classes"
    _check_int("num_train", num_train, 1, fn)
    _check_int("num_test", num_test, 1, fn)
    _check_int("size", size, 4, fn)
    g = torch.Generator().manual_seed(int(seed))
    n = num_train + num_test
    labels = torch.randint(0, 4, (n,), generator=g)
    row = torch.randint(0, size, (n,), generator=g)[:, None, None]
    col = torch.randint(0, size, (n,), generator=g)[:, None, None]
    off = torch.randint(-(size // 2), size // 2 + 1, (n,), generator=g)[:, None, None]
    imgs = torch.rand(n, size, size, generator=g) * 120
    i = torch.arange(size)[None, :, None]
    j = torch.arange(size)[None, None, :]
    lab = labels[:, None, None]
    on = (((lab == 0) | (lab == 2)) & (i == row)) | (((lab == 1) | (lab == 2)) & (j == col)) \
        | ((lab == 3) & (i - j == off))
    imgs = torch.where(on, torch.full_like(imgs, 255.0), imgs).to(torch.uint8)
    return {"train_images": imgs[:num_train], "train_labels": labels[:num_train].to(torch.uint8),
            "test_images": imgs[num_train:], "test_labels": labels[num_train:].to(torch.uint8)}
