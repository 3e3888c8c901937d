r"""Computed weights for any model: the mechanism behind the supermask and hypernetwork
strategies.

:class:`ParameterOverride` makes chosen parameters of a model read as tensors computed by a
plugin (a masked weight, a generated weight) while their module runs, without changing the
model's class, its ``state_dict`` keys or the optimiser's parameters: a forward pre-hook on the
owning module puts the computed tensor in the module's instance dictionary, where attribute
lookup finds it before the registered parameter, and a forward hook takes it away. Gradients
flow to whatever the tensor was computed from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["ParameterOverride", "parameter_names"]


def parameter_names(model: torch.nn.Module, *, min_dim: int = 1) -> list[str]:
    r"""Names of ``model``'s trainable parameters with at least ``min_dim`` dimensions
    (``2``: the weight matrices of linear and convolution layers)."""
    return [n for n, p in model.named_parameters() if p.requires_grad and p.dim() >= min_dim]


class ParameterOverride:
    r"""While ``active``, parameter ``name`` of ``model`` reads as ``provider(name, param)``.

    Args:
        model (torch.nn.Module): the model.
        names (Sequence[str]): full parameter names (``"conv1.lin.weight"``).
        provider (callable): ``provider(name, param) -> Tensor`` of the parameter's shape.
    """

    def __init__(self, model: torch.nn.Module, names: Sequence[str],
                 provider: Callable[[str, Tensor], Tensor]) -> None:
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"ParameterOverride: no parameters {missing}")
        self.provider = provider
        self.active = True
        by_module: dict[str, list[str]] = defaultdict(list)
        for name in names:
            owner, _, leaf = name.rpartition(".")
            by_module[owner].append(leaf)
        self._handles = []
        for owner, leaves in by_module.items():
            module = model.get_submodule(owner)
            prefix = f"{owner}." if owner else ""
            self._handles.append(module.register_forward_pre_hook(
                self._swap_in_hook(prefix, leaves)))
            self._handles.append(module.register_forward_hook(self._swap_out_hook(leaves)))

    def _swap_in_hook(self, prefix: str, leaves: list[str]) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any) -> None:
            if not self.active:
                return
            for leaf in leaves:
                value = self.provider(prefix + leaf, module._parameters[leaf])
                object.__setattr__(module, leaf, value)  # found before _parameters[leaf]

        return hook

    @staticmethod
    def _swap_out_hook(leaves: list[str]) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            for leaf in leaves:
                module.__dict__.pop(leaf, None)

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
