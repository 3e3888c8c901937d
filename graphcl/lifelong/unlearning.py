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

import torch
from torch import Tensor

from graphcl.evaluate.metrics import roc_auc

__all__ = ["UnlearnRequest", "edge_request", "node_request", "sample_edge_request",
           "edge_pools", "df_auroc", "retained_draws", "UnlearnLinkTask", "Unlearner", "Retrain",
           "GradientAscent", "unlearn"]


@dataclass(frozen=True)
class UnlearnRequest:
    r"""What to forget: a mask over the training pairs of a link split.

    Attributes:
        kind (str): ``"edge"`` or ``"node"``.
        df_mask (Tensor): ``[E_train]`` bool, the pairs to delete (``D_f``).
        nodes (Tensor): the deleted nodes of a node request (empty for edge requests).
    """

    kind: str
    df_mask: Tensor
    nodes: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    @property
    def dr_mask(self) -> Tensor:
        r"""The retained training pairs (``D_r``)."""
        return ~self.df_mask

    @property
    def size(self) -> int:
        return int(self.df_mask.sum())

    def retained_edges(self, train_pos: Tensor) -> Tensor:
        r"""``train_pos`` without the deleted pairs: the message-passing graph after
        unlearning."""
        if train_pos.size(1) != self.df_mask.numel():
            raise ValueError(f"the request masks {self.df_mask.numel()} training pairs, the split "
                             f"has {train_pos.size(1)}")
        return train_pos[:, self.dr_mask]

    def then(self, other: UnlearnRequest) -> UnlearnRequest:
        r"""This request followed by ``other`` (sequential requests); they may not overlap."""
        if other.df_mask.numel() != self.df_mask.numel():
            raise ValueError("requests over different splits cannot be combined")
        both = self.df_mask & other.df_mask
        if both.any():
            raise ValueError(f"the requests overlap in {int(both.sum())} training pairs "
                             f"(first: pair {int(both.nonzero()[0])})")
        nodes = torch.cat([self.nodes, other.nodes]).unique()
        kind = self.kind if self.kind == other.kind else "mixed"
        return UnlearnRequest(kind, self.df_mask | other.df_mask, nodes)


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


def node_request(train_pos: Tensor, nodes: Tensor, num_nodes: int) -> UnlearnRequest:
    r"""Delete every training pair incident to ``nodes``.

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
    return UnlearnRequest("node", mask, nodes.sort().values)


def edge_pools(train_pos: Tensor, test_pos: Tensor, num_nodes: int, hops: int = 2
               ) -> tuple[Tensor, Tensor]:
    r"""GNNDelete's candidate pools: a boolean mask over the training pairs of those inside
    the ``hops``-hop neighbourhood (in the training graph) of the test edges' endpoints (the
    ``"in"`` pool: both endpoints in it) and its complement (``"out"``)."""
    inside = torch.zeros(num_nodes, dtype=torch.bool)
    inside[test_pos.reshape(-1)] = True
    u, v = train_pos
    for _ in range(hops):  # one vectorised frontier step per hop
        grow = inside.clone()
        grow[v[inside[u]]] = True
        grow[u[inside[v]]] = True
        inside = grow
    pool_in = inside[u] & inside[v]
    return pool_in, ~pool_in


def sample_edge_request(train_pos: Tensor, test_pos: Tensor, num_nodes: int, size: float, *,
                        where: str = "in", seed: int = 0) -> UnlearnRequest:
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
    pool = (pool_in if where == "in" else pool_out).nonzero().view(-1)
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
    deleted = scores[request.df_mask]
    labels = torch.cat([torch.zeros(deleted.numel()), torch.ones(draws.size(1))])
    aucs = [float(roc_auc(labels, torch.cat([deleted, scores[d]]))) for d in draws]
    return sum(aucs) / len(aucs)


# ---------------------------------------------------------------------------------------------
# Unlearning a trained link predictor: the task after deletion, the methods, unlearn()
# ---------------------------------------------------------------------------------------------


class UnlearnLinkTask:
    r"""Link prediction after an unlearning request, as GNNDelete's harness evaluates it.

    Message passing and supervision use the retained pairs ``D_r`` only (the deleted ones are
    in no graph the model sees); ``evaluate("test")`` gives Dt ``auc``/``ap`` (test positives
    against test negatives), ``evaluate("valid")`` the same on validation, and
    ``evaluate("df")`` the Df ``auc``: deleted pairs (label 0) against retained pairs (label 1)
    over ``draws`` cached samples (:func:`df_auroc`). Training (for retraining, or for a
    method that fine-tunes) is :class:`~graphcl.train.tasks.StaticLinkTask` on ``D_r``. The
    model provides ``encode(x, edge_index)`` and ``decode(h, pairs)``.

    Args:
        data (Data): node features ``x``.
        split (LinkSplit): the split the original model was trained on.
        request (UnlearnRequest): what to forget.
        draws (int, optional): retained samples of the Df score. (default: ``500``)
        seed (int, optional): their seed. (default: ``0``)
    """

    def __init__(self, data, split, request: UnlearnRequest, *, draws: int = 500,
                 seed: int = 0) -> None:
        import dataclasses

        from graphcl.train.tasks import StaticLinkTask

        self.split = split
        self.request = request
        self.retained = dataclasses.replace(split, train_pos=request.retained_edges(split.train_pos))
        self.inner = StaticLinkTask(data, self.retained, metrics=("auc", "ap"))
        self.x = data.x
        self.edge_index = self.retained.train_edge_index()  # D_r, both directions
        self.draws = retained_draws(request, draws, seed)

    def train_batches(self, strategy):
        return self.inner.train_batches(strategy)

    def training_loss(self, strategy, batch) -> Tensor:
        return self.inner.training_loss(strategy, batch)

    def evaluate(self, strategy, split: str) -> dict[str, float]:
        if split in ("valid", "test"):
            return self.inner.evaluate(strategy, split)
        if split != "df":
            raise ValueError(f"split must be 'valid', 'test' or 'df', got {split!r}")
        model = strategy.model
        scores = model.decode(model.encode(self.x, self.edge_index), self.split.train_pos)
        return {"auc": df_auroc(scores, self.request, self.draws)}


class Unlearner:
    r"""An unlearning method: changes ``engine.model`` in place so that it forgets
    ``task.request`` (the engine's hooks fire around it, see :func:`unlearn`)."""

    name = ""

    def unlearn(self, engine, task: UnlearnLinkTask) -> None:
        r"""Changes ``engine.model`` in place (subclasses)."""
        raise TypeError(f"{type(self).__name__} does not implement unlearn()")


class Retrain(Unlearner):
    r"""The gold standard: new weights trained from scratch on ``D_r`` (message passing and
    supervision), with the engine's settings (``epochs``: its ``max_epochs`` unless given)."""

    name = "retrain"

    def __init__(self, epochs: int | None = None) -> None:
        self.epochs = epochs

    def unlearn(self, engine, task: UnlearnLinkTask) -> None:
        for module in engine.model.modules():
            if module is not engine.model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if engine.optimizer is not None:
            engine.optimizer.state.clear()  # fresh Adam moments for fresh weights
        keep = engine.max_epochs, engine.checkpoint
        engine.max_epochs = self.epochs if self.epochs is not None else engine.max_epochs
        engine.checkpoint = None
        try:
            engine.fit(task)
        finally:
            engine.max_epochs, engine.checkpoint = keep


class GradientAscent(Unlearner):
    r"""``steps`` full-batch steps *up* the binary cross-entropy of the deleted pairs as
    positives, on the retained graph, with the engine's optimiser at learning rate ``lr``
    (GNNDelete's baseline: 10 epochs at 1e-3 from the trained weights), through the engine's
    backward/update (every update hook fires)."""

    name = "grad_ascent"

    def __init__(self, steps: int = 10, lr: float = 1e-3) -> None:
        if steps < 1 or lr <= 0:
            raise ValueError(f"steps must be >= 1 and lr > 0, got {steps}, {lr}")
        self.steps = steps
        self.lr = lr  # GNNDelete's unlearning learning rate

    def unlearn(self, engine, task: UnlearnLinkTask) -> None:
        import torch.nn.functional as F

        model = engine.model
        deleted = task.split.train_pos[:, task.request.df_mask]
        groups = engine.optimizer.param_groups if engine.optimizer is not None else []
        keep = [g["lr"] for g in groups]
        for g in groups:
            g["lr"] = self.lr
        model.train()
        try:
            for _ in range(self.steps):
                engine.zero_grad()
                logits = model.decode(model.encode(task.x, task.edge_index), deleted)
                nll = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                engine.backward(-nll)
                engine.update(task)
        finally:
            for g, lr in zip(groups, keep, strict=True):
                g["lr"] = lr


UNLEARNERS = {"retrain": Retrain, "grad_ascent": GradientAscent}


def unlearn(engine, data, split, request: UnlearnRequest, method: Unlearner | str,
            **kwargs) -> dict[str, float]:
    r"""Forgets ``request`` from the model of ``engine`` (trained on ``split``) with ``method``
    and returns the harness metrics after it: ``test_auc``/``test_ap`` (Dt), ``valid_*`` and
    ``df_auc``. The engine's ``before_unlearn`` / ``after_unlearn`` hooks fire around it
    (keyword ``request``), so every plugin sees every request; a sequence of requests is a
    sequence of calls (combine them with :meth:`UnlearnRequest.then`).

    Args:
        engine (Engine): holds the trained model (``encode``/``decode``) and its optimiser.
        data (Data): node features.
        split (LinkSplit): the split the model was trained on.
        request (UnlearnRequest): what to forget.
        method (Unlearner or str): ``"retrain"``, ``"grad_ascent"`` or an instance.
        **kwargs: the method's options when ``method`` is a name.
    """
    if isinstance(method, str):
        if method not in UNLEARNERS:
            raise KeyError(f"unknown unlearning method {method!r}; known: {sorted(UNLEARNERS)}")
        method = UNLEARNERS[method](**kwargs)
    task = UnlearnLinkTask(data, split, request)
    engine._call("before_unlearn", request=request)
    method.unlearn(engine, task)
    engine._call("after_unlearn", request=request)
    return engine.evaluate(task, ["valid", "test", "df"])
