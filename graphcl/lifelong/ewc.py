r"""Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017) as an engine plugin.

After each experience the diagonal of the empirical Fisher information is estimated from the
squared gradients of the task's training loss over its training batches, and the weights are
stored. While later experiences train, the penalty

.. math::
    \frac{\lambda}{2} \sum_{e} \sum_i F_{e,i} \, (\theta_i - \theta^{*}_{e,i})^2

is added to the loss in ``before_backward``. ``mode="online"`` keeps one running Fisher
(:math:`F \leftarrow \gamma F + F_e`) and the latest weights (Schwarz et al., 2018), as
Avalanche's ``EWCPlugin`` does. The Fisher pass runs inside
:meth:`~graphcl.train.Engine.preserved_state`, so a temporal memory, samplers and the RNGs
are as they were: the pass changes nothing but the plugin.
"""

from __future__ import annotations

from typing import Any

import torch

from graphcl.lifelong import register_plugin
from graphcl.train.plugins import Plugin


@register_plugin("ewc")
class EWC(Plugin):
    r"""Elastic Weight Consolidation.

    Args:
        ewc_lambda (float, optional): weight :math:`\lambda` of the penalty. (default: ``1.0``)
        mode (str, optional): ``"separate"`` (one term per past experience) or ``"online"``.
            (default: ``"separate"``)
        decay (float, optional): :math:`\gamma` of the online mode. (default: ``1.0``)
        fisher_batches (int, optional): training batches used for the Fisher estimate
            (default: all of the experience's batches).
        fisher_batch_size (int, optional): estimate the Fisher from chunks of this many of the
            experience's training examples (its ``replay_items``/``replay_loss``) instead of
            its training batches; ``1`` gives the per-example empirical Fisher. A full-batch
            task needs it: the squared gradient of one converged full batch is close to zero.
            (default: ``None``: the training batches)
    """

    def __init__(self, ewc_lambda: float = 1.0, mode: str = "separate", decay: float = 1.0,
                 fisher_batches: int | None = None, fisher_batch_size: int | None = None) -> None:
        if mode not in ("separate", "online"):
            raise ValueError(f"EWC mode must be 'separate' or 'online', got {mode!r}")
        if float(ewc_lambda) < 0 or fisher_batches is not None and int(fisher_batches) < 1:
            raise ValueError(f"EWC needs ewc_lambda >= 0 and fisher_batches >= 1, got "
                             f"{ewc_lambda}, {fisher_batches}")
        self.ewc_lambda = float(ewc_lambda)
        self.mode = mode
        self.decay = float(decay)
        self.fisher_batches = None if fisher_batches is None else int(fisher_batches)
        if fisher_batch_size is not None and int(fisher_batch_size) < 1:
            raise ValueError(f"EWC fisher_batch_size must be >= 1, got {fisher_batch_size}")
        self.fisher_batch_size = None if fisher_batch_size is None else int(fisher_batch_size)
        self.anchors: list[dict[str, torch.Tensor]] = []
        self.fishers: list[dict[str, torch.Tensor]] = []
        self.last_penalty: float = 0.0

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"anchors": self.anchors, "fishers": self.fishers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.anchors = [dict(a) for a in state["anchors"]]
        self.fishers = [dict(f) for f in state["fishers"]]

    # --- hooks -------------------------------------------------------------------------------
    def penalty(self, model: torch.nn.Module) -> torch.Tensor | None:
        r"""The EWC term for ``model``'s current weights (``None`` before any experience)."""
        if not self.fishers:
            return None
        params = dict(model.named_parameters())
        total = None
        for anchor, fisher in zip(self.anchors, self.fishers, strict=True):
            for name, f in fisher.items():
                p = params.get(name)
                if p is None or not p.requires_grad:
                    continue
                term = (f * (p - anchor[name]).pow(2)).sum()
                total = term if total is None else total + term
        return None if total is None else 0.5 * self.ewc_lambda * total

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return
        pen = self.penalty(strategy.model)
        if pen is not None:
            strategy.loss = strategy.loss + pen
            self.last_penalty = float(pen.detach())

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return  # an unlearning experience is not a task to protect
        fisher = self.fisher(strategy)
        anchor = {n: p.detach().clone() for n, p in strategy.model.named_parameters()
                  if n in fisher}
        if self.mode == "online" and self.fishers:
            prev = self.fishers[0]
            fisher = {n: self.decay * prev.get(n, torch.zeros_like(f)) + f
                      for n, f in fisher.items()}
            self.fishers, self.anchors = [fisher], [anchor]
        else:
            self.fishers.append(fisher)
            self.anchors.append(anchor)

    @torch.enable_grad()
    def fisher(self, strategy: Any) -> dict[str, torch.Tensor]:
        r"""Diagonal empirical Fisher of the current experience (mean squared gradient over
        its training batches), with the task's state preserved around the pass."""
        task = strategy.experience
        model = strategy.model
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        acc = {n: torch.zeros_like(p) for n, p in named}
        count = 0
        with strategy.preserved_state(task):
            model.train()
            if hasattr(task, "on_epoch_start"):
                task.on_epoch_start(strategy)
            chunked = self.fisher_batch_size is not None
            if chunked and not hasattr(task, "replay_items"):
                raise TypeError(f"EWC fisher_batch_size: {type(task).__name__} has no "
                                "replay_items()/replay_loss()")
            batches = (task.replay_items(strategy).split(self.fisher_batch_size) if chunked
                       else task.train_batches(strategy))
            for batch in batches:  # one backward per chunk: per-example gradients
                model.zero_grad(set_to_none=True)
                loss = (task.replay_loss(strategy, batch) if chunked
                        else task.training_loss(strategy, batch))
                loss.backward()
                for n, p in named:
                    if p.grad is not None:
                        acc[n] += p.grad.detach().pow(2)
                count += 1
                if not chunked and hasattr(task, "after_update"):  # e.g. write the batch into memory
                    task.after_update(strategy, batch)
                if self.fisher_batches is not None and count >= self.fisher_batches:
                    break
            model.zero_grad(set_to_none=True)
        return {n: a / max(count, 1) for n, a in acc.items()}

    def __repr__(self) -> str:
        return (f"EWC(ewc_lambda={self.ewc_lambda}, mode={self.mode!r}, "
                f"experiences={len(self.fishers)})")
