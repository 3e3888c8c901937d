r"""Fitting graphon mixtures to a target graphon: the task W2PGNN's feasibility trains.

One epoch is one Adam step on every candidate's mixing logits. Its loss is the square-loss
Gromov–Wasserstein objective between the candidate's generator and the downstream graphon at
an optimal plan for the current weights (POT's exact solver); with the plan fixed, the
objective is differentiable in the weights and its gradient is the GW distance's (the
envelope theorem), which replaces the released code's entropic GW at ε = 1e-5 — at that ε the
entropic plan is the exact one, and POT's exact solver is two orders of magnitude faster on a
CPU. ``valid`` is the summed objective (for early stopping); ``test`` reports, for every
candidate, the feasibility: minus the KL-loss GW distance (square-rooted) between the best
generator seen and the downstream graphon, at ``eval_resolution`` (the released code's final
measure), and the same for the uniform mixture (the "without α" row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from graphcl.nn.graphon import gw_distance, gw_plan, gw_plan_loss, resize


class MixtureFitTask:
    r"""Fits :class:`~graphcl.models.w2pgnn.GraphonMixtures` to ``target``.

    Args:
        names (Sequence[str]): candidate names (metric keys ``feasibility:<name>``).
        steps (Sequence[Sequence[Tensor]]): every candidate's basis step functions (any
            sizes), resampled to ``eval_resolution`` for the final distances.
        target (Tensor): the downstream step function.
        fit_target (Tensor): ``target`` at the fitting resolution.
        eval_resolution (int): resolution of the final distances.
        loss (str, optional): the final distance's loss, ``"kl"`` or ``"square"``.
            (default: ``"kl"``)
    """

    model_selection = False  # the best weights of every candidate are kept by the model

    def __init__(self, names: Sequence[str], steps: Sequence[Sequence[Tensor]], target: Tensor,
                 fit_target: Tensor, eval_resolution: int, loss: str = "kl") -> None:
        if len(names) != len(steps):
            raise ValueError("MixtureFitTask: one list of bases per candidate name")
        self.names = list(names)
        self.steps = [list(s) for s in steps]
        self.target = target.double()
        self.fit_target = fit_target.double()
        self.eval_resolution = int(eval_resolution)
        self.loss = loss
        self._plans: dict[int, tuple[bytes, Tensor]] = {}
        self.num_train_examples = len(self.names)

    def _fitted(self, model: Any) -> list[int]:
        return [c for c in range(model.num_candidates) if model.num_bases(c) > 1]

    def _plan(self, model: Any, c: int, w: Tensor) -> Tensor:
        key = model.logits[c].detach().numpy().tobytes()
        hit = self._plans.get(c)
        if hit is None or hit[0] != key:
            hit = (key, gw_plan(w.detach(), self.fit_target))
            self._plans[c] = hit
        return hit[1]

    def _losses(self, model: Any) -> Tensor:
        out = []
        for c in self._fitted(model):
            w = model(c)
            loss = gw_plan_loss(w, self.fit_target, self._plan(model, c, w))
            model.record(c, float(loss.detach()))
            out.append(loss)
        return torch.stack(out) if out else torch.zeros(0, dtype=torch.float64)

    def train_batches(self, strategy: Any) -> Iterator[None]:
        yield None

    def training_loss(self, strategy: Any, batch: None) -> Tensor:
        return self._losses(strategy.model).sum()

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        model = strategy.model
        if split == "valid":
            return {"gw": float(self._losses(model).sum())}
        if split != "test":
            raise ValueError(f"MixtureFitTask evaluates 'valid' or 'test', got {split!r}")
        r = self.eval_resolution
        target = resize(self.target, r)
        out: dict[str, float] = {}
        for c, (name, steps) in enumerate(zip(self.names, self.steps, strict=True)):
            bases = torch.stack([resize(s, r) for s in steps])
            best = torch.einsum("k,kij->ij", model.alpha(c, best=True).detach(), bases)
            out[f"feasibility:{name}"] = -gw_distance(best, target, loss=self.loss)
            if len(steps) > 1:
                out[f"feasibility_uniform:{name}"] = -gw_distance(bases.mean(0), target,
                                                                  loss=self.loss)
            else:
                out[f"feasibility_uniform:{name}"] = out[f"feasibility:{name}"]
        return out

    def alphas(self, model: Any) -> dict[str, float]:
        r"""The best mixing weights of every candidate, ``{"alpha:<name>:<k>": value}``."""
        return {f"alpha:{name}:{k}": float(a)
                for c, name in enumerate(self.names)
                for k, a in enumerate(model.alpha(c, best=True).tolist())}
