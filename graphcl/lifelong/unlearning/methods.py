r"""The unlearning methods of the GNNDelete / D2DGN comparison, each an
:class:`~graphcl.lifelong.unlearning.Unlearner` whose work is an engine task.

* :class:`Retrain`: new weights trained from scratch on the retained data (the gold standard);
* :class:`GradientAscent`: steps up the loss of the deleted pairs (GNNDelete's baseline);
* :class:`GNNDelete` (Cheng et al., ICLR 2023): learnt deletion operators after each layer of
  the frozen model, on the deleted pairs' neighbourhood;
* :class:`D2DGN` (Sinha et al., arXiv 2309.16173): a student distilled from the original model
  (the *preserver*) on the retained data and from a model that knows nothing (the *destroyer*)
  on the deleted data;
* :class:`SSD` (Foster et al., AAAI 2024): selective synaptic dampening — parameters far more
  important (diagonal Fisher) to the deleted data than to the whole are shrunk, no training;
* :class:`Analytic`: a closed-form least-squares head over the frozen encoder, from which the
  deleted pairs' contribution is removed exactly (no stored data).

Every method's task evaluates through :class:`~graphcl.lifelong.unlearning.UnlearnLinkTask`
(message passing on the retained graph only) and carries the request, so the engine's
``before_unlearn`` / ``after_unlearn`` hooks and every plugin reach it.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.lifelong.unlearning import Unlearner, UnlearnLinkTask, hop_mask
from graphcl.models.unlearning import AnalyticHead, DeletionGNN

__all__ = ["Retrain", "GradientAscent", "GNNDelete", "D2DGN", "SSD", "Analytic", "UNLEARNERS",
           "AnalyticLinkModel"]


def _adam(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameter")
    return torch.optim.Adam(params, lr=lr)


def _check(epochs: int, lr: float) -> None:
    if int(epochs) < 1 or lr <= 0:
        raise ValueError(f"epochs must be >= 1 and lr > 0, got {epochs}, {lr}")


class _Wrapped:
    r"""A method's task: :class:`UnlearnLinkTask`'s evaluation and request, the method's own
    training. ``prep_seconds`` is the one-off work before the first epoch (teachers, Fisher
    estimates), part of the unlearning time."""

    def __init__(self, base: UnlearnLinkTask) -> None:
        self.base = base
        self.unlearn_request = base.unlearn_request
        self.prep_seconds = 0.0

    def __getattr__(self, name: str) -> Any:  # x, edge_index, split, request, deleted ...
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def evaluate(self, strategy, split: str) -> dict[str, float]:
        return self.base.evaluate(strategy, split)

    def previous_edge_index(self) -> Tensor:
        r"""The message-passing graph before this experience's request."""
        base = self.base
        before = base.request.graph_mask & ~base.new.graph_mask
        pairs = base.split.train_pos[:, ~before]
        return torch.cat([pairs, pairs.flip(0)], 1) if base.split.undirected else pairs


# ----------------------------------------------------------------------------- retrain, ascent
class _RetrainTask(_Wrapped):
    def begin_experience(self, strategy) -> None:
        for module in strategy.model.modules():
            if module is not strategy.model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if strategy.optimizer is not None:
            strategy.optimizer.state.clear()  # fresh Adam moments for fresh weights

    def train_batches(self, strategy):
        return self.base.train_batches(strategy)

    def training_loss(self, strategy, batch) -> Tensor:
        return self.base.training_loss(strategy, batch)


class Retrain(Unlearner):
    r"""The gold standard: new weights trained from scratch on the retained pairs (message
    passing and supervision), ``epochs`` full-batch epochs of Adam at ``lr``."""

    name = "retrain"

    def __init__(self, epochs: int = 2000, lr: float = 1e-3) -> None:
        _check(epochs, lr)
        self.epochs, self.lr = int(epochs), float(lr)

    def setup(self, model, base):
        return model, _adam(model, self.lr), _RetrainTask(base), self.epochs


class _AscentTask(_Wrapped):
    def train_batches(self, strategy):
        yield self.base.new_deleted

    def training_loss(self, strategy, batch: Tensor) -> Tensor:
        model = strategy.model
        logits = model.decode(model.encode(self.base.x, self.base.edge_index), batch)
        return -F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class GradientAscent(Unlearner):
    r"""``epochs`` full-batch Adam steps *up* the binary cross-entropy of the deleted pairs as
    positives, on the retained graph, from the trained weights (GNNDelete's baseline: 10
    epochs at 1e-3)."""

    name = "grad_ascent"

    def __init__(self, epochs: int = 10, lr: float = 1e-3) -> None:
        _check(epochs, lr)
        self.epochs, self.lr = int(epochs), float(lr)

    def setup(self, model, base):
        return model, _adam(model, self.lr), _AscentTask(base), self.epochs


# ----------------------------------------------------------------------------- GNNDelete
class _GNNDeleteTask(_Wrapped):
    def __init__(self, base, alpha: float, max_nodes: int) -> None:
        super().__init__(base)
        self.alpha, self.max_nodes = alpha, max_nodes
        self.state: dict[str, Tensor] = {}

    def begin_experience(self, strategy) -> None:
        t0 = time.perf_counter()
        model: DeletionGNN = strategy.model
        split, n = self.base.split, self.base.split.num_nodes
        seeds = self.base.deleted.reshape(-1).unique()
        masks = [hop_mask(split.train_pos, seeds, n, k + 1) for k in range(len(model.operators))]
        with torch.no_grad():  # the model before this request, on the graph before it
            was = model.training
            model.eval()
            z_ori = model.encode(self.base.x, self.previous_edge_index())
            model.train(was)
        model.set_masks(masks)
        nodes = masks[-1].nonzero().view(-1)
        self.state = {"z_ori": z_ori, "nodes": nodes}
        self._fixed()
        self.prep_seconds = time.perf_counter() - t0

    def _fixed(self) -> None:
        if self.state["nodes"].numel() <= self.max_nodes:  # one pair set: targets once
            self.fixed = self._targets(self.state["nodes"])
        else:
            self.fixed = None

    def _targets(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        r"""The original sigmoid scores of every pair among ``nodes`` and a 0/1 weight that
        leaves out the deleted pairs."""
        z_ori, deleted = self.state["z_ori"], self.base.deleted
        target = torch.sigmoid(z_ori[nodes] @ z_ori[nodes].T)
        weight = torch.ones_like(target)
        pos = torch.full((self.base.split.num_nodes,), -1, dtype=torch.long)
        pos[nodes] = torch.arange(nodes.numel())
        a, b = pos[deleted[0]], pos[deleted[1]]
        ok = (a >= 0) & (b >= 0)
        weight[a[ok], b[ok]] = 0
        weight[b[ok], a[ok]] = 0
        return target, weight

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.state)  # the original's embeddings; the pair targets derive from them

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.state = dict(state)
        self._fixed()

    def train_batches(self, strategy):
        yield None

    def training_loss(self, strategy, batch) -> Tensor:
        from graphcl.data.split import sample_train_negatives

        model, base = strategy.model, self.base
        z = model.encode(base.x, base.edge_index)
        deleted = base.deleted
        # deleted-edge consistency: deleted pairs scored like random pairs (non-edges of the
        # graph before deletion)
        neg = sample_train_negatives(base.split, deleted.size(1))
        l_dec = F.mse_loss(model.decode(z, deleted), model.decode(z, neg))
        # neighbourhood influence: the pairs among the 2-hop nodes keep their original scores
        nodes = self.state["nodes"]
        if self.fixed is not None:
            target, weight = self.fixed
        else:  # a random subset of the 2-hop nodes per epoch
            nodes = nodes[torch.randperm(nodes.numel())[:self.max_nodes]].sort().values
            target, weight = self._targets(nodes)
        pred = torch.sigmoid(z[nodes] @ z[nodes].T)
        l_ni = ((pred - target).square() * weight).sum() / weight.sum().clamp_min(1)
        return self.alpha * l_dec + (1 - self.alpha) * l_ni


class GNNDelete(Unlearner):
    r"""GNNDelete (Cheng et al., ICLR 2023): the model is frozen and a deletion operator is
    learnt after each layer for the nodes within that many hops of the deleted pairs
    (:class:`~graphcl.models.unlearning.DeletionGNN`), minimising
    ``alpha · L_DEC + (1 − alpha) · L_NI``: the deleted pairs' logits matched to those of random
    non-edges (deleted-edge consistency), and the sigmoid scores of every pair among the 2-hop
    nodes (deleted pairs excepted) matched to the original model's (neighbourhood influence).
    Budget: the authors' scripts, 1,500 epochs at 1e-3; the operators start at ``1/1000``
    everywhere as in their code (``init="identity"``: the identity). ``max_nodes`` caps the
    2-hop node set (a random subset per epoch beyond it) instead of the authors' dense
    ``N × N`` matrices. A later request of a sequence re-trains the same operators with the
    union's neighbourhood."""

    name = "gnndelete"

    def __init__(self, epochs: int = 1500, lr: float = 1e-3, alpha: float = 0.5,
                 init: str = "paper", max_nodes: int = 4096) -> None:
        _check(epochs, lr)
        if not 0 <= alpha <= 1 or max_nodes < 2:
            raise ValueError(f"alpha must lie in [0, 1] and max_nodes >= 2, got {alpha}, "
                             f"{max_nodes}")
        self.epochs, self.lr, self.alpha = int(epochs), float(lr), float(alpha)
        self.init, self.max_nodes = init, int(max_nodes)

    def setup(self, model, base):
        n = base.split.num_nodes
        empty = [torch.zeros(n, dtype=torch.bool) for _ in model.convs]
        wrapped = DeletionGNN(model, empty, init=self.init)
        return (wrapped, _adam(wrapped, self.lr), _GNNDeleteTask(base, self.alpha, self.max_nodes),
                self.epochs)

    def next_request(self, model, base):
        return _GNNDeleteTask(base, self.alpha, self.max_nodes)


# ----------------------------------------------------------------------------- D2DGN
def _bernoulli_kl(target_logits: Tensor, logits: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Mean ``KL([p, 1−p] ‖ [q, 1−q])`` with ``p = σ(target)`` clamped to ``[eps, 1−eps]``
    (OpenGU's clamp) and ``q = σ(logits)`` in log space."""
    p = torch.sigmoid(target_logits).clamp(eps, 1 - eps)
    log_q1, log_q0 = F.logsigmoid(logits), F.logsigmoid(-logits)
    return (p * (p.log() - log_q1) + (1 - p) * ((1 - p).log() - log_q0)).mean()


class _D2DGNTask(_Wrapped):
    def __init__(self, base, method: D2DGN) -> None:
        super().__init__(base)
        self.m = method
        self.state: dict[str, Any] = {}

    def begin_experience(self, strategy) -> None:
        from graphcl.data.split import sample_train_negatives

        t0 = time.perf_counter()
        student, base, m = strategy.model, self.base, self.m
        split = base.split
        # the teacher of what is kept: the original model (a later request of a sequence
        # distils again from it, with every deletion so far), or the model before this request
        preserver = copy.deepcopy(m.original if m.preserver == "original" and m.original
                                  is not None else student).eval()
        destroyer = copy.deepcopy(student)
        g = torch.Generator().manual_seed(m.seed)
        with torch.random.fork_rng():
            torch.manual_seed(m.seed)
            destroyer.reset_parameters()  # knows nothing
            if m.destroyer == "random_edges":  # trained on random structure only
                _train_on_random_edges(destroyer, base.x, split.num_nodes,
                                       base.retained.train_pos.size(1), m.destroyer_epochs,
                                       m.lr * 10, g)
        destroyer.eval()
        keep_pos = base.retained.train_pos
        negatives = sample_train_negatives(split, keep_pos.size(1), generator=g)
        keep = torch.cat([keep_pos, negatives], 1)
        forget = torch.cat([base.deleted, negatives], 1)
        graph = base.edge_index if m.teacher_graph == "retained" else base.full_edge_index
        x = base.x if m.teacher_graph == "retained" else base.full_x
        with torch.no_grad():
            p_layers = preserver.layers(x, graph)
            d_layers = destroyer.layers(x, graph)
        removed = base.request.nodes if base.request.kind in ("node", "mixed") else \
            torch.zeros(0, dtype=torch.long)
        vf = torch.zeros(split.num_nodes, dtype=torch.bool)
        vf[removed] = True
        self.state = {"keep": keep, "forget": forget,
                      "t_keep": preserver.decode(p_layers[-1], keep),
                      "t_forget": destroyer.decode(d_layers[-1], forget),
                      "vr": (~vf).nonzero().view(-1), "vf": vf.nonzero().view(-1)}
        for i, (p, d) in enumerate(zip(p_layers, d_layers, strict=True)):
            self.state[f"p{i}"], self.state[f"d{i}"] = p, d
        if m.student == "random":  # OpenGU: distilled retraining from fresh weights
            student.reset_parameters()
            if strategy.optimizer is not None:
                strategy.optimizer.state.clear()
        self.prep_seconds = time.perf_counter() - t0

    def state_dict(self) -> dict[str, Any]:
        return dict(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = dict(state)

    def train_batches(self, strategy):
        yield None

    def training_loss(self, strategy, batch) -> Tensor:
        m, st, model = self.m, self.state, strategy.model
        layers = model.layers(self.base.x, self.base.edge_index)
        h = layers[-1]
        l_r = _bernoulli_kl(st["t_keep"], model.decode(h, st["keep"]))
        l_f = _bernoulli_kl(st["t_forget"], model.decode(h, st["forget"]))
        if m.feature_weight > 0:
            vr, vf = st["vr"], st["vf"]
            for i, z in enumerate(layers):
                l_r = l_r + m.feature_weight * F.mse_loss(z[vr], st[f"p{i}"][vr])
                if vf.numel():
                    l_f = l_f + m.feature_weight * F.mse_loss(z[vf], st[f"d{i}"][vf])
        return m.alpha * l_r + (1 - m.alpha) * l_f


def _train_on_random_edges(model, x, n, m, epochs, lr, g) -> None:
    r"""Trains ``model`` to predict ``m`` uniformly random pairs against random non-pairs
    (fresh each epoch): a destroyer that has seen only random structure (OpenGU's second
    strategy)."""
    from graphcl.train.tasks import fit_full_batch, link_bce_loss

    pairs = torch.randint(0, n, (2, m), generator=g)
    graph = torch.cat([pairs, pairs.flip(0)], 1)
    fit_full_batch(model, lambda mod, neg: link_bce_loss(mod, x, graph, pairs, neg), epochs, lr,
                   batch=lambda: torch.randint(0, n, (2, m), generator=g))


class D2DGN(Unlearner):
    r"""Distill to Delete (Sinha, Mandal, Kankanhalli; arXiv 2309.16173): the student (the
    model) is distilled from a frozen copy of itself before the request (the *preserver*) on
    the retained pairs and from a model of the same architecture that knows nothing (the
    *destroyer*) on the deleted ones:
    ``alpha · L_r + (1 − alpha) · L_f`` with response-based KL between the 2-class link
    distributions ``[σ(s), 1 − σ(s)]`` (keep set: retained pairs and as many negatives; forget
    set: deleted pairs and the same negatives, as in OpenGU's reproduction) plus, with
    ``feature_weight``, feature-based MSE between every layer's node embeddings (retained
    nodes toward the preserver; the nodes of a node request toward the destroyer). Teacher
    targets are computed once, with no gradient, on the retained graph (``teacher_graph="full"``:
    the graph before deletion, as OpenGU).

    Args:
        epochs (int, optional): full-batch epochs. (default: ``25``; OpenGU's example uses
            100, at which the deleted pairs are pushed well past a retrained model's scores:
            ``experiments/cora/README.md``)
        lr (float, optional): Adam's learning rate. (default: ``1e-3``, GNNDelete's budget)
        alpha (float, optional): weight of the retained part. (default: ``0.5``)
        feature_weight (float, optional): weight of the embedding terms. (default: ``1.0``)
        destroyer (str, optional): ``"random"`` (freshly initialised, never trained) or
            ``"random_edges"`` (trained on random pairs). (default: ``"random"``)
        student (str, optional): ``"original"`` (start from the trained weights, the
            bad-teacher reading) or ``"random"`` (re-initialised, OpenGU). (default:
            ``"original"``)
        teacher_graph (str, optional): ``"retained"`` or ``"full"``. (default: ``"retained"``)
        destroyer_epochs (int, optional): training of a ``"random_edges"`` destroyer.
            (default: ``100``)
        preserver (str, optional): the teacher of a later request of a sequence: the
            ``"previous"`` student, or the ``"original"`` model (every request distils from
            it again, with the union of the deletions: on ten Cora requests this pushes the
            early deletions ever further, Df 0.2 past retraining). The same for a single
            request. (default: ``"previous"``)
        seed (int, optional): the destroyer's initialisation and the negatives. (default: ``0``)
    """

    name = "d2dgn"

    def __init__(self, epochs: int = 25, lr: float = 1e-3, alpha: float = 0.5,
                 feature_weight: float = 1.0, destroyer: str = "random",
                 student: str = "original", teacher_graph: str = "retained",
                 destroyer_epochs: int = 100, preserver: str = "previous",
                 seed: int = 0) -> None:
        _check(epochs, lr)
        for key, value, allowed in (("destroyer", destroyer, ("random", "random_edges")),
                                    ("student", student, ("original", "random")),
                                    ("teacher_graph", teacher_graph, ("retained", "full")),
                                    ("preserver", preserver, ("original", "previous"))):
            if value not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {value!r}")
        if not 0 <= alpha <= 1 or feature_weight < 0:
            raise ValueError(f"alpha must lie in [0, 1] and feature_weight >= 0, got {alpha}, "
                             f"{feature_weight}")
        self.epochs, self.lr, self.alpha = int(epochs), float(lr), float(alpha)
        self.feature_weight, self.destroyer, self.student = float(feature_weight), destroyer, student
        self.teacher_graph, self.destroyer_epochs, self.seed = teacher_graph, destroyer_epochs, seed
        self.preserver = preserver
        self.original: torch.nn.Module | None = None

    def setup(self, model, base):
        self.original = copy.deepcopy(model).eval()  # the model before any request
        return model, _adam(model, self.lr), _D2DGNTask(base, self), self.epochs


# ----------------------------------------------------------------------------- SSD
def _importance(model, x, graph, pairs: Tensor, labels: Tensor, batch_size: int
                ) -> dict[str, Tensor]:
    r"""Diagonal Fisher estimate: the mean over mini-batches of squared gradients of the
    binary cross-entropy (SSD's ``calc_importance``)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    imp = {n: torch.zeros_like(p) for n, p in params.items()}
    chunks = torch.arange(pairs.size(1)).split(batch_size)
    for idx in chunks:
        model.zero_grad(set_to_none=True)
        logits = model.decode(model.encode(x, graph), pairs[:, idx])
        F.binary_cross_entropy_with_logits(logits, labels[idx]).backward()
        for n, p in params.items():
            if p.grad is not None:
                imp[n] += p.grad.detach() ** 2
    model.zero_grad(set_to_none=True)
    return {n: v / len(chunks) for n, v in imp.items()}


class _SSDTask(_Wrapped):
    def __init__(self, base, method: SSD) -> None:
        super().__init__(base)
        self.m = method

    def train_batches(self, strategy):
        yield None

    def training_loss(self, strategy, batch) -> Tensor:
        raise TypeError("SSD has no training loss; it runs its own step")

    def training_step(self, strategy, batch) -> None:
        from graphcl.data.split import sample_train_negatives

        m, base, model = self.m, self.base, strategy.model
        split = base.split
        before = base.request.df_mask & ~base.new.df_mask
        pos = split.train_pos[:, ~before]  # the data as it was before this request
        g = torch.Generator().manual_seed(m.seed)
        neg = sample_train_negatives(split, pos.size(1), generator=g)
        pairs = torch.cat([pos, neg], 1)
        labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
        graph, x = self.previous_edge_index(), base.full_x
        imp_d = _importance(model, x, graph, pairs, labels, m.batch_size)
        forget = base.new_deleted
        imp_f = _importance(model, x, graph, forget, torch.ones(forget.size(1)), m.batch_size)

        @torch.no_grad()
        def dampen() -> None:
            for n, p in model.named_parameters():
                if n not in imp_d:
                    continue
                select = imp_f[n] > m.alpha * imp_d[n]
                beta = (m.lam * imp_d[n] / imp_f[n].clamp_min(1e-30)).clamp(max=1.0)
                p[select] *= beta[select]

        strategy.update(self, batch, step=dampen)


class SSD(Unlearner):
    r"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup; AAAI 2024), on links: the
    diagonal Fisher importance of every parameter on the training data (pairs and as many
    negatives) and on the deleted pairs, both on the graph before deletion; a parameter whose
    deleted-data importance exceeds ``alpha`` times its overall importance is multiplied by
    ``min(lam · I_D / I_Df, 1)``. One pass, no training (the paper's ``alpha=10``,
    ``lam=1``)."""

    name = "ssd"

    def __init__(self, alpha: float = 10.0, lam: float = 1.0, batch_size: int = 64,
                 seed: int = 0) -> None:
        if alpha <= 0 or lam <= 0 or batch_size < 1:
            raise ValueError(f"alpha, lam must be > 0 and batch_size >= 1, got {alpha}, {lam}, "
                             f"{batch_size}")
        self.alpha, self.lam, self.batch_size, self.seed = float(alpha), float(lam), int(batch_size), seed
        self.epochs = 1

    def setup(self, model, base):
        return model, None, _SSDTask(base, self), 1


# ----------------------------------------------------------------------------- analytic
class AnalyticLinkModel(torch.nn.Module):
    r"""A frozen encoder and an :class:`~graphcl.models.unlearning.AnalyticHead` over
    ``h_u ⊙ h_v``; ``decode`` returns the logit of the head's (clamped) score, so that the
    harness reads it as any link predictor."""

    def __init__(self, encoder: torch.nn.Module, dim: int, reg: float = 1.0) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(encoder)  # a frozen copy: the caller's model is unchanged
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.head = AnalyticHead(dim, reg)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encoder.encode(x, edge_index)

    def decode(self, h: Tensor, pairs: Tensor) -> Tensor:
        return torch.logit(self.head(AnalyticHead.features(h, pairs)).clamp(1e-4, 1 - 1e-4))


def fit_analytic(model: AnalyticLinkModel, x: Tensor, split, seed: int = 0) -> None:
    r"""Fits the head on the training pairs (target 1) and as many uniform non-edges (target
    0), with the encoder's embeddings on the training graph."""
    from graphcl.data.split import sample_train_negatives

    g = torch.Generator().manual_seed(int(seed))
    neg = sample_train_negatives(split, split.train_pos.size(1), generator=g)
    with torch.no_grad():
        h = model.encode(x, split.train_edge_index())
        model.head.fit(AnalyticHead.features(h, split.train_pos), torch.ones(split.train_pos.size(1)))
        model.head.fit(AnalyticHead.features(h, neg), torch.zeros(neg.size(1)))


class _AnalyticTask(_Wrapped):
    def train_batches(self, strategy):
        yield None

    def training_loss(self, strategy, batch) -> Tensor:
        raise TypeError("analytic unlearning has no training loss; it runs its own step")

    def training_step(self, strategy, batch) -> None:
        base, model = self.base, strategy.model
        with torch.no_grad():  # the features the head was fitted with: the original graph
            h = model.encode(base.full_x, base.full_edge_index)
            pairs = base.new_deleted
            phi = AnalyticHead.features(h, pairs)
        strategy.update(self, batch,
                        step=lambda: model.head.remove(phi, torch.ones(pairs.size(1))))


class Analytic(Unlearner):
    r"""Analytic unlearning: the trained encoder is frozen and the link scorer is a ridge
    regression on ``h_u ⊙ h_v`` kept in recursive-least-squares form
    (:class:`~graphcl.models.unlearning.AnalyticHead`, fitted in closed form on the training
    pairs and as many non-edges); a request removes its pairs' contribution exactly (a
    Woodbury downdate), so the head equals — to round-off — the head fitted without them, and
    no training sample is kept. The encoder's weights are not changed (they saw the deleted
    pairs); message passing after the request uses the retained graph."""

    name = "analytic"

    def __init__(self, reg: float = 1.0, seed: int = 0) -> None:
        if reg <= 0:
            raise ValueError(f"reg must be > 0, got {reg}")
        self.reg, self.seed = float(reg), seed
        self.epochs = 1

    def wrap(self, model, x, split) -> AnalyticLinkModel:
        r"""The analytic model of a trained encoder, its head fitted on ``split``."""
        with torch.no_grad():
            dim = model.encode(x[:1].expand(2, -1).clone(), torch.zeros(2, 0, dtype=torch.long)
                               ).size(1)
        wrapped = AnalyticLinkModel(model, dim, self.reg)
        fit_analytic(wrapped, x, split, self.seed)
        return wrapped

    def setup(self, model, base):
        if not isinstance(model, AnalyticLinkModel):
            model = self.wrap(model, base.full_x, base.split)
        return model, None, _AnalyticTask(base), 1


UNLEARNERS: dict[str, type[Unlearner]] = {
    c.name: c for c in (Retrain, GradientAscent, GNNDelete, D2DGN, SSD, Analytic)}
