r"""Pruning masks as an engine plugin: unstructured magnitude pruning and lottery tickets.

:class:`MagnitudePruning` keeps a binary mask per weight matrix / kernel (every parameter named
``*weight`` with two or more dimensions) in its own state — checkpointed with the run, unlike
``torch.nn.utils.prune``'s re-parametrisation, which PyG layers lose on save — and applies it
after every optimiser step, so that pruned weights stay exactly zero whatever the optimiser and
its weight decay do. Because every graphcl method trains through the Engine, the same plugin
prunes a GNN, a temporal memory model or an MLP.

Lottery tickets (Frankle & Carbin, ICLR 2019): trained as a stream of experiences (the same
task repeated), before each experience but the first the plugin removes ``rate`` of the
remaining weights by global magnitude (from the weights the last round trained, so that the
stream's accuracy matrix scores every round's trained ticket) and rewinds the survivors to
their values at ``rewind_epoch`` (0: the initialisation), clearing the optimiser's state
(moments) as a fresh training would.
``graphcl run METHOD --plugin lottery:rate=0.2`` with a ``repeat:K``
stream does iterative magnitude pruning with rewinding.
"""

from __future__ import annotations

from typing import Any

import torch

from graphcl.lifelong import register_plugin
from graphcl.train.plugins import Plugin

__all__ = ["MagnitudePruning", "prunable", "global_magnitude_masks", "sparsity"]


def prunable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    r"""The parameters magnitude pruning applies to: weight matrices and kernels."""
    return {n: p for n, p in model.named_parameters()
            if n.endswith("weight") and p.dim() >= 2 and p.requires_grad}


def global_magnitude_masks(params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                           rate: float) -> dict[str, torch.Tensor]:
    r"""New masks removing a fraction ``rate`` of the weights still alive under ``masks``,
    the smallest in magnitude over all ``params`` together (ties broken by position)."""
    if not 0 <= rate < 1:
        raise ValueError(f"pruning rate must lie in [0, 1), got {rate}")
    alive = torch.cat([p.detach().abs()[masks[n]].flatten() for n, p in params.items()])
    k = int(rate * alive.numel())
    if k == 0:
        return {n: m.clone() for n, m in masks.items()}
    cut = torch.kthvalue(alive, k).values
    out, ties, budget = {}, {}, k
    for n, p in params.items():
        mag = p.detach().abs()
        below = masks[n] & (mag < cut)
        ties[n] = masks[n] & (mag == cut)
        budget -= int(below.sum())
        out[n] = masks[n] & ~below
    # weights exactly at the cut: remove them in order until k are gone
    for n in params:
        if budget <= 0:
            break
        idx = ties[n].flatten().nonzero().view(-1)[:budget]
        flat = out[n].flatten().clone()
        flat[idx] = False
        out[n] = flat.view_as(out[n])
        budget -= idx.numel()
    return out


def sparsity(masks: dict[str, torch.Tensor]) -> float:
    r"""Fraction of pruned weights."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / max(total, 1)


@register_plugin("lottery")
class MagnitudePruning(Plugin):
    r"""Unstructured magnitude pruning with rewinding (see the module docstring).

    Args:
        rate (float, optional): fraction of the remaining weights removed after each
            experience but the last. (default: ``0.2``)
        rewind_epoch (int, optional): the epoch whose weights the survivors are rewound to
            (0: the initialisation, before any update). (default: ``0``)
        rewind (bool, optional): ``False`` keeps the trained weights (plain iterative
            magnitude pruning with fine-tuning). (default: ``True``)
    """

    def __init__(self, rate: float = 0.2, rewind_epoch: int = 0, rewind: bool = True) -> None:
        if not 0 <= float(rate) < 1:
            raise ValueError(f"lottery: rate must lie in [0, 1), got {rate}")
        if int(rewind_epoch) < 0:
            raise ValueError(f"lottery: rewind_epoch must be >= 0, got {rewind_epoch}")
        self.rate, self.rewind_epoch, self.rewind = float(rate), int(rewind_epoch), bool(rewind)
        self.masks: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}
        self.rounds = 0

    def state_dict(self) -> dict[str, Any]:
        return {"masks": self.masks, "anchor": self.anchor, "rounds": self.rounds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = dict(state["masks"])
        self.anchor = dict(state["anchor"])
        self.rounds = int(state["rounds"])

    @torch.no_grad()
    def apply(self, model: torch.nn.Module) -> None:
        r"""Zeroes the pruned weights of ``model``."""
        for n, p in prunable(model).items():
            if n in self.masks:
                p.mul_(self.masks[n])

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        params = prunable(strategy.model)
        if not params:
            raise ValueError("lottery: the model has no weight matrices to prune")
        if not self.masks:
            self.masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in params.items()}
        if not self.anchor and self.rewind_epoch == 0:
            self.anchor = {n: p.detach().clone() for n, p in params.items()}
        self.apply(strategy.model)

    def after_training_epoch(self, strategy: Any, **kwargs: Any) -> None:
        if not self.anchor and strategy.epoch >= self.rewind_epoch and self.rounds == 0:
            self.anchor = {n: p.detach().clone() for n, p in prunable(strategy.model).items()}

    def after_update(self, strategy: Any, **kwargs: Any) -> None:
        self.apply(strategy.model)

    @torch.no_grad()
    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        r"""From the second round on: prunes the weights the last round trained (so that the
        stream's accuracy matrix scores each round's trained ticket, not its rewound start)
        and rewinds the survivors; once per round, also when a killed run resumes it."""
        if strategy.experience_index <= self.rounds:
            self.apply(strategy.model)
            return
        params = prunable(strategy.model)
        self.masks = global_magnitude_masks(params, self.masks, self.rate)
        self.rounds += 1
        if self.rewind:
            if not self.anchor:
                raise ValueError(f"lottery: the run ended before rewind_epoch "
                                 f"{self.rewind_epoch}; nothing to rewind to")
            for n, p in params.items():
                p.copy_(self.anchor[n])
            if getattr(strategy, "optimizer", None) is not None:
                strategy.optimizer.state.clear()  # a rewound ticket retrains from scratch
        self.apply(strategy.model)


@register_plugin("group-sparsity")
class GroupSparsity(Plugin):
    r"""DepGraph's sparse training (Fang et al., CVPR 2023) as a plugin: before every update,
    each dependency group's weights (a channel with everything coupled to it) get the extra
    gradient :math:`\lambda\,\gamma_g\,w_g`, :math:`\gamma_g = \alpha^{(I_{max}-I_g)/(I_{max}-
    I_{min})}` from the group's L2 importance, so weak groups shrink up to ``alpha`` times
    harder and later structured pruning (:func:`~graphcl.nn.structured_pruning.
    prune_to_speedup`) removes them at little cost. Torch-Pruning's ``GroupNormPruner`` builds
    the groups and applies the term (``pip install 'graphcl[metaprune]'``); a network it cannot
    trace (PyG message passing) takes the same gradient from the network's graph
    (``backend="graph"``: :func:`~graphcl.nn.structured_pruning.group_penalty`, tested
    equal).

    Args:
        reg (float, optional): :math:`\lambda`. (default: ``5e-4``)
        alpha (float, optional): :math:`\alpha`. (default: ``16``)
        input_shape (list, optional): one input's shape without the batch; default: the
            first training image of the task (an image task's ``images``), or a node task's
            feature count.
        backend (str, optional): ``"torch-pruning"``, ``"graph"``, or ``"auto"`` (the graph
            for a model with message-passing layers). (default: ``"auto"``)
    """

    def __init__(self, reg: float = 5e-4, alpha: float = 16.0,
                 input_shape: list[int] | None = None, backend: str = "auto") -> None:
        if float(reg) < 0 or float(alpha) < 1:
            raise ValueError(f"group-sparsity: reg must be >= 0 and alpha >= 1, got {reg}, "
                             f"{alpha}")
        if backend not in ("auto", "torch-pruning", "graph"):
            raise ValueError(f"group-sparsity: backend must be 'auto', 'torch-pruning' or "
                             f"'graph', got {backend!r}")
        self.reg, self.alpha, self.backend = float(reg), float(alpha), backend
        self.input_shape = None if input_shape is None else [int(s) for s in input_shape]
        self.pruner: Any = None
        self.graph: Any = None
        self.names: list[str] = []

    def _example(self, strategy: Any) -> torch.Tensor:
        if self.input_shape is not None:
            return torch.zeros(1, *self.input_shape)
        images = getattr(strategy.experience, "images", None)
        if images is None:
            raise ValueError("group-sparsity: set input_shape (the task holds no images)")
        return images[:1]

    def before_training(self, strategy: Any, **kwargs: Any) -> None:
        from torch_geometric.nn import MessagePassing

        from graphcl.nn.structured_pruning import require_torch_pruning

        model = strategy.model
        graph = self.backend == "graph" or (
            self.backend == "auto" and any(isinstance(m, MessagePassing) for m in model.modules()))
        if graph:
            from graphcl.nn.netgraph import network_to_graph

            shape = self.input_shape
            if shape is None:
                data = getattr(strategy.experience, "data", None)
                if data is None:
                    raise ValueError("group-sparsity: set input_shape (the task holds no data)")
                shape = [int(data.x.size(1))]
            self.graph = network_to_graph(model, tuple(shape), {"batch": None})
            self.names = [la.weight for la in self.graph.layers] + \
                [f"{la.bn}.weight" for la in self.graph.layers if la.bn is not None]
            return
        tp = require_torch_pruning()
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1:]
        self.pruner = tp.pruner.GroupNormPruner(
            model, self._example(strategy), tp.importance.GroupMagnitudeImportance(p=2),
            reg=self.reg, alpha=self.alpha, global_pruning=True, ignored_layers=last)

    def before_update(self, strategy: Any, **kwargs: Any) -> None:
        if self.graph is None:
            self.pruner.regularize(strategy.model, alpha=self.alpha, bias=False)
            return
        from graphcl.nn.structured_pruning import group_penalty

        params = dict(strategy.model.named_parameters())
        penalty = group_penalty(self.graph, params, self.reg, self.alpha)
        grads = torch.autograd.grad(penalty, [params[n] for n in self.names])
        for name, g in zip(self.names, grads, strict=True):
            p = params[name]
            p.grad = g if p.grad is None else p.grad + g
