r"""Structured pruning to a FLOPs speed-up target, on Torch-Pruning's dependency graph.

:func:`prune_to_speedup` removes whole channels (with everything that depends on them: the
batch norm, the next layer's input channels, a residual partner) by a group importance, step
by step over the network (global pruning), until the measured FLOPs of one example fall by the
requested factor. Torch-Pruning (``pip install 'graphcl[metaprune]'``) supplies the dependency
graph, the group importances (L1 magnitude; group norm as DepGraph) and the FLOPs counter; it
is not rewritten here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphcl.nn.optional import optional_module

__all__ = ["prune_to_speedup", "count_flops", "require_torch_pruning", "IMPORTANCES"]

IMPORTANCES = ("l1", "l2", "group-norm", "random")


def require_torch_pruning():
    r"""The ``torch_pruning`` module, or an ImportError saying how to install it."""
    return optional_module("torch_pruning", "structured pruning", "metaprune", "torch-pruning")


def count_flops(model: nn.Module, example: torch.Tensor) -> tuple[float, float]:
    r"""``(MACs, parameters)`` of one forward pass on ``example`` (Torch-Pruning's counter)."""
    tp = require_torch_pruning()
    was = model.training
    model.eval()
    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(model, example)
    model.train(was)
    return float(macs), float(params)


def _importance(name: str) -> Any:
    tp = require_torch_pruning()
    if name == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if name in ("l2", "group-norm"):
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "random":
        return tp.importance.RandomImportance()
    raise ValueError(f"unknown importance {name!r}; choose from {list(IMPORTANCES)}")


def prune_to_speedup(model: nn.Module, example: torch.Tensor, speedup: float, *,
                     importance: str = "l1", steps: int = 200, max_ratio: float = 0.95,
                     keep: list[nn.Module] | None = None) -> dict[str, float]:
    r"""Prunes ``model`` in place until its FLOPs on ``example`` are ``speedup`` times lower.

    Args:
        model (nn.Module): the network (its output layer is kept whole: pass it in ``keep``,
            or it is found as the last ``Linear``).
        example (Tensor): one input batch (its shape fixes the FLOPs).
        speedup (float): the target FLOPs ratio, ``>= 1``.
        importance (str, optional): ``"l1"`` (magnitude), ``"l2"`` / ``"group-norm"``
            (DepGraph's group norm) or ``"random"``. (default: ``"l1"``)
        steps (int, optional): pruning steps; each removes a slice of the channels left.
            (default: ``200``)
        max_ratio (float, optional): the largest fraction of a layer's channels removed.
            (default: ``0.95``)
        keep (list, optional): layers never pruned. (default: the last ``Linear``)

    Returns:
        dict: ``flops_before``, ``flops_after``, ``speedup`` (measured), ``params_before``,
        ``params_after``, ``steps``.

    Raises:
        ValueError: ``speedup < 1``, an unknown importance, or a target the network cannot
            reach (naming the speed-up reached).
    """
    if not float(speedup) >= 1.0:
        raise ValueError(f"speed-up target must be >= 1, got {speedup}")
    tp = require_torch_pruning()
    imp = _importance(importance)
    if keep is None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        keep = linears[-1:]
    flops0, params0 = count_flops(model, example)
    pruner = tp.pruner.MetaPruner(model, example, importance=imp, global_pruning=True,
                                  pruning_ratio=max_ratio, max_pruning_ratio=max_ratio,
                                  iterative_steps=steps, ignored_layers=keep)
    flops, params, done = flops0, params0, 0
    while flops0 / flops < speedup and done < steps:
        pruner.step()
        done += 1
        flops, params = count_flops(model, example)
    reached = flops0 / flops
    if reached < speedup:
        raise ValueError(f"speed-up {speedup} is unreachable: {reached:.2f}x after removing up "
                         f"to {max_ratio:.0%} of every layer's channels")
    return {"flops_before": flops0, "flops_after": flops, "speedup": reached,
            "params_before": params0, "params_after": params, "steps": float(done)}
