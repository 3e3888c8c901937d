r"""Unlearning requests and the GNNDelete evaluation harness (Cheng et al., ICLR 2023).

A request names what must be forgotten from a link split's *training* edges, as GNNDelete's
``df_mask`` / ``dr_mask`` (deleted / retained) over ``split.train_pos`` (each undirected pair
once):

* :func:`edge_request`: given edges; :func:`sample_edge_request`: ``size`` edges drawn from the
  ``"in"`` pool (training edges inside the 2-hop neighbourhood of the test edges' endpoints, the
  harder setting) or the ``"out"`` pool (outside it);
* :func:`node_request`: every training edge incident to the given nodes.

:func:`df_auroc` is the harness's "distinguish deleted from retained" score: deleted edges
(label 0) against as many randomly drawn retained edges (label 1), averaged over a fixed set
of draws. :func:`unlearn` applies a method (:class:`Retrain`, :class:`GradientAscent`; the
other methods of the GNNDelete/D2DGN comparison build on the same interface) to a trained
link predictor held by an :class:`~graphcl.train.Engine`, between its ``before_unlearn`` and
``after_unlearn`` hooks, and reports the harness metrics (:class:`UnlearnLinkTask`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["UnlearnRequest", "edge_request", "node_request", "sample_edge_request",
           "sample_node_request", "edge_pools", "hop_mask", "df_auroc", "df_scores",
           "retained_draws", "UnlearnLinkTask", "Unlearner", "unlearn", "get_unlearner"]


@dataclass(frozen=True)
class UnlearnRequest:
    r"""What to forget: a mask over the training pairs of a link split.

    Attributes:
        kind (str): ``"edge"``, ``"node"`` (every pair of the nodes), ``"feature"`` (the
            nodes' feature rows become zero; their pairs stay in the graph and are where
            forgetting is scored) or ``"mixed"`` (a sequence of several kinds).
        df_mask (Tensor): ``[E_train]`` bool, the pairs to forget (``D_f``).
        nodes (Tensor): the nodes of a node or feature request (empty for edge requests).
        graph_mask (Tensor, optional): the pairs removed from the message-passing graph
            (default: ``df_mask``; none for a feature request).
        feature_nodes (Tensor, optional): the nodes whose features are deleted.
    """

    kind: str
    df_mask: Tensor
    nodes: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    graph_mask: Tensor | None = None
    feature_nodes: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def __post_init__(self) -> None:
        if self.graph_mask is None:
            object.__setattr__(self, "graph_mask", self.df_mask.clone())

    @property
    def dr_mask(self) -> Tensor:
        r"""The retained training pairs (``D_r``)."""
        return ~self.df_mask

    @property
    def size(self) -> int:
        return int(self.df_mask.sum())

    def retained_edges(self, train_pos: Tensor) -> Tensor:
        r"""``train_pos`` without the removed pairs: the message-passing graph after
        unlearning."""
        if train_pos.size(1) != self.df_mask.numel():
            raise ValueError(f"the request masks {self.df_mask.numel()} training pairs, the split "
                             f"has {train_pos.size(1)}")
        return train_pos[:, ~self.graph_mask]

    def retained_features(self, x: Tensor) -> Tensor:
        r"""``x`` with the deleted nodes' feature rows zeroed (``x`` itself without any)."""
        if self.feature_nodes.numel() == 0:
            return x
        x = x.clone()
        x[self.feature_nodes] = 0
        return x

    def then(self, other: UnlearnRequest) -> UnlearnRequest:
        r"""This request followed by ``other`` (sequential requests); they may not overlap."""
        if other.df_mask.numel() != self.df_mask.numel():
            raise ValueError("requests over different splits cannot be combined")
        both = self.df_mask & other.df_mask
        if both.any():
            raise ValueError(f"the requests overlap in {int(both.sum())} training pairs "
                             f"(first: pair {int(both.nonzero()[0])})")
        cat = lambda a, b: torch.cat([a, b]).unique()  # noqa: E731
        kind = self.kind if self.kind == other.kind else "mixed"
        return UnlearnRequest(kind, self.df_mask | other.df_mask, cat(self.nodes, other.nodes),
                              self.graph_mask | other.graph_mask,
                              cat(self.feature_nodes, other.feature_nodes))


def _keys(edges: Tensor, n: int) -> Tensor:
    u, v = edges.min(0).values, edges.max(0).values  # undirected: (u, v) ~ (v, u)
    return u * n + v


def edge_request(train_pos: Tensor, edges: Tensor, num_nodes: int) -> UnlearnRequest:
    r"""Delete ``edges`` (``[2, k]``, either direction) from the training pairs.

    Raises:
        ValueError: an empty request, a repeated edge, or an edge that is not a training pair
            (the first one is named).
    """
    edges = torch.as_tensor(edges, dtype=torch.long)
    if edges.dim() != 2 or edges.size(0) != 2:
        raise ValueError(f"edges must be [2, k], got shape {tuple(edges.shape)}")
    if edges.size(1) == 0:
        raise ValueError("an unlearning request needs at least one edge")
    if edges.min() < 0 or edges.max() >= num_nodes:
        raise ValueError(f"edge ids must lie in 0..{num_nodes - 1}")
    want = _keys(edges, num_nodes)
    uniq, counts = want.unique(return_counts=True)
    if (counts > 1).any():
        k = int(uniq[counts > 1][0])
        raise ValueError(f"edge ({k // num_nodes}, {k % num_nodes}) is requested twice")
    have = _keys(train_pos, num_nodes)
    order = have.argsort()
    pos = torch.searchsorted(have[order], want).clamp(max=max(have.numel() - 1, 0))
    found = have.numel() > 0
    hit = have[order][pos] == want if found else torch.zeros_like(want, dtype=torch.bool)
    if not hit.all():
        i = int((~hit).nonzero()[0])
        raise ValueError(f"edge ({int(edges[0, i])}, {int(edges[1, i])}) is not a training edge "
                         "of the split")
    mask = torch.zeros(train_pos.size(1), dtype=torch.bool)
    mask[order[pos]] = True
    return UnlearnRequest("edge", mask)


def node_request(train_pos: Tensor, nodes: Tensor, num_nodes: int, *,
                 features_only: bool = False) -> UnlearnRequest:
    r"""Delete every training pair incident to ``nodes`` (or, with ``features_only``, the
    nodes' features: a ``"feature"`` request whose pairs stay in the graph).

    Raises:
        ValueError: an empty or repeated node list, an id out of range, or nodes without any
            training edge (nothing to forget).
    """
    nodes = torch.as_tensor(nodes, dtype=torch.long).view(-1)
    if nodes.numel() == 0:
        raise ValueError("an unlearning request needs at least one node")
    if nodes.min() < 0 or nodes.max() >= num_nodes:
        raise ValueError(f"node ids must lie in 0..{num_nodes - 1}")
    if nodes.unique().numel() != nodes.numel():
        raise ValueError("a node is requested twice")
    hit = torch.zeros(num_nodes, dtype=torch.bool)
    hit[nodes] = True
    mask = hit[train_pos[0]] | hit[train_pos[1]]
    if not mask.any():
        raise ValueError("the nodes have no training edge: nothing to forget")
    nodes = nodes.sort().values
    if features_only:
        return UnlearnRequest("feature", mask, nodes, torch.zeros_like(mask), nodes)
    return UnlearnRequest("node", mask, nodes)


def sample_node_request(train_pos: Tensor, num_nodes: int, size: float, *, seed: int = 0,
                        exclude: Tensor | None = None, features_only: bool = False
                        ) -> UnlearnRequest:
    r"""``size`` nodes drawn among those with a training pair (a ``size`` below 100 is a
    percentage of them), minus ``exclude``; see :func:`node_request`."""
    has = torch.zeros(num_nodes, dtype=torch.bool)
    has[train_pos.reshape(-1)] = True
    if exclude is not None and exclude.numel():
        has[exclude] = False
    pool = has.nonzero().view(-1)
    k = int(round(size / 100 * pool.numel())) if size < 100 else int(size)
    if k < 1:
        raise ValueError(f"the request size {size} selects no node")
    if pool.numel() < k:
        raise ValueError(f"{pool.numel()} nodes have training pairs, fewer than the {k} requested")
    g = torch.Generator().manual_seed(int(seed))
    return node_request(train_pos, pool[torch.randperm(pool.numel(), generator=g)[:k]],
                        num_nodes, features_only=features_only)


def hop_mask(pairs: Tensor, seeds: Tensor, num_nodes: int, hops: int) -> Tensor:
    r"""``[N]`` bool: the nodes within ``hops`` hops of ``seeds`` in the undirected graph of
    ``pairs`` (one vectorised frontier step per hop)."""
    inside = torch.zeros(num_nodes, dtype=torch.bool)
    inside[seeds] = True
    u, v = pairs
    for _ in range(hops):
        grow = inside.clone()
        grow[v[inside[u]]] = True
        grow[u[inside[v]]] = True
        inside = grow
    return inside


def edge_pools(train_pos: Tensor, test_pos: Tensor, num_nodes: int, hops: int = 2
               ) -> tuple[Tensor, Tensor]:
    r"""GNNDelete's candidate pools: a boolean mask over the training pairs of those inside
    the ``hops``-hop neighbourhood (in the training graph) of the test edges' endpoints (the
    ``"in"`` pool: both endpoints in it) and its complement (``"out"``)."""
    inside = hop_mask(train_pos, test_pos.reshape(-1), num_nodes, hops)
    u, v = train_pos
    pool_in = inside[u] & inside[v]
    return pool_in, ~pool_in


def sample_edge_request(train_pos: Tensor, test_pos: Tensor, num_nodes: int, size: float, *,
                        where: str = "in", seed: int = 0, exclude: Tensor | None = None
                        ) -> UnlearnRequest:
    r"""``size`` training pairs drawn from the ``"in"`` or ``"out"`` pool (:func:`edge_pools`);
    a ``size`` below 100 is a percentage of the training pairs, as in GNNDelete.

    Raises:
        ValueError: an unknown ``where``, a non-positive size, or a pool smaller than the size.
    """
    if where not in ("in", "out"):
        raise ValueError(f"where must be 'in' or 'out', got {where!r}")
    k = int(round(size / 100 * train_pos.size(1))) if size < 100 else int(size)
    if k < 1:
        raise ValueError(f"the request size {size} selects no training pair")
    pool_in, pool_out = edge_pools(train_pos, test_pos, num_nodes)
    pool = pool_in if where == "in" else pool_out
    if exclude is not None:  # pairs an earlier request took
        pool = pool & ~exclude
    pool = pool.nonzero().view(-1)
    if pool.numel() < k:
        raise ValueError(f"the {where!r} pool has {pool.numel()} training pairs, fewer than the "
                         f"{k} requested")
    g = torch.Generator().manual_seed(int(seed))
    pick = pool[torch.randperm(pool.numel(), generator=g)[:k]]
    mask = torch.zeros(train_pos.size(1), dtype=torch.bool)
    mask[pick] = True
    return UnlearnRequest("edge", mask)


def retained_draws(request: UnlearnRequest, draws: int = 500, seed: int = 0) -> Tensor:
    r"""``[draws, |D_f|]`` indices of retained training pairs, drawn once (with a fixed seed)
    so that every model is scored on the same samples."""
    dr = request.dr_mask.nonzero().view(-1)
    k = request.size
    if dr.numel() < k:
        raise ValueError(f"{dr.numel()} retained pairs cannot match {k} deleted ones")
    g = torch.Generator().manual_seed(int(seed))
    return torch.stack([dr[torch.randperm(dr.numel(), generator=g)[:k]] for _ in range(draws)])


def df_auroc(scores: Tensor, request: UnlearnRequest, draws: Tensor) -> float:
    r"""GNNDelete's Df AUROC: the scores of the deleted pairs (label 0) against those of the
    retained pairs of each draw (label 1), averaged over the draws. ``scores`` are the model's
    scores of every training pair (``[E_train]``)."""
    return df_scores(scores, request, draws)["auc"]


def df_scores(scores: Tensor, request: UnlearnRequest, draws: Tensor) -> dict[str, float]:
    r"""Df ``auc`` and ``ap`` (see :func:`df_auroc`), averaged over the draws, and the mean
    probability of the deleted pairs (``prob``; ``scores`` are logits). All draws at once:
    the AUROC counts, for every retained score, the deleted scores below it (ties count one
    half); the AP sorts each draw and credits every positive with the precision at the end
    of its group of tied scores (scikit-learn's definition)."""
    scores = scores.detach().float()
    deleted = scores[request.df_mask]
    kept = scores[draws]  # [D, k] retained scores (label 1)
    ref = deleted.sort().values
    below = torch.searchsorted(ref, kept, side="left").float()
    ties = torch.searchsorted(ref, kept, side="right").float() - below
    auc = ((below + 0.5 * ties).sum(1) / (kept.size(1) * ref.numel())).mean()
    both = torch.cat([kept, deleted.expand(kept.size(0), -1)], 1)
    labels = torch.cat([torch.ones_like(kept), torch.zeros(kept.size(0), deleted.numel())], 1)
    order = both.argsort(dim=1, descending=True, stable=True)
    s, y = both.gather(1, order), labels.gather(1, order)
    tp = y.cumsum(1)
    rank = torch.arange(1, s.size(1) + 1, dtype=torch.float).expand_as(s)
    end = torch.ones_like(s, dtype=torch.bool)
    end[:, :-1] = s[:, 1:] != s[:, :-1]
    big = s.size(1)
    idx = torch.where(end, torch.arange(big).expand_as(s), torch.full_like(y, big, dtype=torch.long))
    group_end = idx.flip(1).cummin(1).values.flip(1)
    precision = (tp / rank).gather(1, group_end)
    ap = ((y * precision).sum(1) / y.sum(1)).mean()
    return {"auc": float(auc), "ap": float(ap), "prob": float(deleted.sigmoid().mean())}


# ---------------------------------------------------------------------------------------------
# Unlearning a trained link predictor: the task after deletion, the methods, unlearn()
# ---------------------------------------------------------------------------------------------


class UnlearnLinkTask:
    r"""Link prediction after an unlearning request, as GNNDelete's harness evaluates it, and
    the retraining task (the gold standard).

    Message passing and supervision use the retained pairs only (the removed ones are in no
    graph the model sees; a feature request zeroes the nodes' features instead);
    ``evaluate("test")`` gives Dt ``auc``/``ap`` (test positives against test negatives),
    ``evaluate("valid")`` the same on validation, and ``evaluate("df")`` Df ``auc``/``ap``
    (deleted pairs, label 0, against retained pairs, label 1, over ``draws`` cached samples,
    :func:`df_scores`) and ``prob``, the deleted pairs' mean probability. Training is
    :class:`~graphcl.train.tasks.StaticLinkTask` on the retained pairs. The model provides
    ``encode(x, edge_index)`` and ``decode(h, pairs)``; the engine fires its
    ``before_unlearn``/``after_unlearn`` hooks around the experience (``unlearn_request``).

    Args:
        data (Data): node features ``x``.
        split (LinkSplit): the split the original model was trained on.
        request (UnlearnRequest): everything forgotten so far (the sequence's union).
        new (UnlearnRequest, optional): the request of this experience (default: ``request``).
        draws (int, optional): retained samples of the Df score. (default: ``500``)
        seed (int, optional): their seed. (default: ``0``)
    """

    def __init__(self, data, split, request: UnlearnRequest, new: UnlearnRequest | None = None,
                 *, draws: int = 500, seed: int = 0) -> None:
        import dataclasses

        from graphcl.train.tasks import StaticLinkTask

        self.split = split
        self.request = request
        self.new = new if new is not None else request
        self.unlearn_request = self.new
        self.full_x = data.x
        self.x = request.retained_features(data.x)
        self.retained = dataclasses.replace(split, train_pos=request.retained_edges(split.train_pos))
        self.inner = StaticLinkTask(data.__class__(x=self.x, num_nodes=split.num_nodes),
                                    self.retained, metrics=("auc", "ap"))
        self.edge_index = self.retained.train_edge_index()  # D_r, both directions
        self.full_edge_index = split.train_edge_index()  # before the deletion
        self.draws = retained_draws(request, draws, seed)

    @property
    def deleted(self) -> Tensor:
        r"""Every forgotten pair so far ``[2, |D_f|]``."""
        return self.split.train_pos[:, self.request.df_mask]

    @property
    def new_deleted(self) -> Tensor:
        r"""The pairs of this experience's request."""
        return self.split.train_pos[:, self.new.df_mask]

    def train_batches(self, strategy):
        return self.inner.train_batches(strategy)

    def training_loss(self, strategy, batch) -> Tensor:
        return self.inner.training_loss(strategy, batch)

    def evaluate(self, strategy, split: str) -> dict[str, float]:
        if split in ("valid", "test"):
            return self.inner.evaluate(strategy, split)
        if split != "df":
            raise ValueError(f"split must be 'valid', 'test' or 'df', got {split!r}")
        return self.df_metrics(strategy.model)

    @torch.no_grad()
    def df_metrics(self, model: torch.nn.Module, *, before: bool = False) -> dict[str, float]:
        r"""Df ``auc``/``ap``/``prob`` of ``model`` (:func:`df_scores`) on the retained graph
        and features, or, ``before=True``, on those before the deletion (the original
        model's view)."""
        x, graph = (self.full_x, self.full_edge_index) if before else (self.x, self.edge_index)
        scores = model.decode(model.encode(x, graph), self.split.train_pos)
        return df_scores(scores, self.request, self.draws)


class Unlearner:
    r"""An unlearning method. :meth:`setup` turns the trained model and the request's
    :class:`UnlearnLinkTask` into what the engine runs: the model that is trained (the same
    model, or one wrapping it), its optimiser (``None`` for closed-form methods, whose task
    brings its own ``training_step``), the task and the number of epochs."""

    name = ""
    epochs = 1

    def setup(self, model: torch.nn.Module, base: UnlearnLinkTask
              ) -> tuple[torch.nn.Module, torch.optim.Optimizer | None, Any, int]:
        raise TypeError(f"{type(self).__name__} does not implement setup()")

    def next_request(self, model: torch.nn.Module, base: UnlearnLinkTask) -> Any:
        r"""The task of a later request of a sequence, for the model the first :meth:`setup`
        returned (default: a new task over the same model)."""
        return self.setup(model, base)[2]


def get_unlearner(method: Unlearner | str, **kwargs: Any) -> Unlearner:
    r"""An unlearning method by name (``retrain``, ``grad_ascent``, ``gnndelete``, ``d2dgn``,
    ``ssd``, ``analytic``) with its options, or ``method`` itself."""
    from graphcl.lifelong.unlearning.methods import UNLEARNERS

    if isinstance(method, Unlearner):
        if kwargs:
            raise TypeError("options go to a method given by name, not to an instance")
        return method
    if method not in UNLEARNERS:
        raise KeyError(f"unknown unlearning method {method!r}; known: {sorted(UNLEARNERS)}")
    return UNLEARNERS[method](**kwargs)


def unlearn(model: torch.nn.Module, data, split, request: UnlearnRequest,
            method: Unlearner | str, *, plugins=(), draws: int = 500, seed: int = 0,
            progress: bool = False, **kwargs: Any) -> tuple[torch.nn.Module, dict[str, float]]:
    r"""Forgets ``request`` from ``model`` (trained on ``split``) with ``method`` and returns
    the unlearned model (``model`` itself, changed in place, or a model wrapping it) and the
    harness metrics after it: ``test_auc``/``test_ap`` (Dt), ``valid_*``, ``df_auc``/``df_ap``
    and ``df_prob``. The method trains through an :class:`~graphcl.train.Engine` with
    ``plugins``, whose ``before_unlearn``/``after_unlearn`` hooks fire around it. A sequence of
    requests is a sequence of calls, each given the union so far (:meth:`UnlearnRequest.then`)
    — or one :meth:`~graphcl.train.Engine.fit_stream` over their tasks.

    The request is checked against the split before anything changes: a request of another
    split raises ``ValueError`` and leaves ``model`` as it was.

    Args:
        model (torch.nn.Module): ``encode(x, edge_index)`` / ``decode(h, pairs)``.
        data (Data): node features.
        split (LinkSplit): the split the model was trained on.
        request (UnlearnRequest): what to forget.
        method (Unlearner or str): a method or its name (:func:`get_unlearner`).
        plugins (Sequence[Plugin], optional): engine plugins. (default: ``()``)
        draws (int, optional): retained samples of the Df score. (default: ``500``)
        seed (int, optional): their seed. (default: ``0``)
        progress (bool, optional): a progress bar. (default: ``False``)
        **kwargs: the method's options when ``method`` is a name.
    """
    from graphcl.train.engine import Engine

    method = get_unlearner(method, **kwargs)
    base = UnlearnLinkTask(data, split, request, draws=draws, seed=seed)
    trained, optimizer, task, epochs = method.setup(model, base)
    engine = Engine(trained, optimizer, plugins=plugins, max_epochs=epochs,
                    eval_every=max(epochs, 1), eval_splits=("valid", "test", "df"),
                    monitor="valid_auc", progress=progress)
    return trained, engine.fit(task)["metrics"]
