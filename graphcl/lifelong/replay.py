r"""Experience replay (Chaudhry et al., 2019; Avalanche's ``ReplayPlugin``) as an engine plugin.

After each experience, ids of its training examples (nodes, edges, events: whatever the
experience's ``replay_items`` returns) enter a bounded buffer. While later experiences train,
``before_backward`` adds the loss of a sample of the buffer, each stored id computed on the
data of the experience it came from (``replay_loss``), so one plugin replays node, edge and
event buffers alike:

.. math::
    \mathcal{L} = \mathcal{L}_{\text{current}} + w \, \mathcal{L}_{\text{memory}}.

Storage policies: ``"experience_balanced"`` (Avalanche's default: an equal share of the buffer
per experience, a uniform sample of each) and ``"reservoir"`` (reservoir sampling over every
example seen, Vitter's algorithm R, vectorised over an experience's examples).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.lifelong import register_plugin
from graphcl.train.plugins import Plugin

__all__ = ["ReservoirSamplingBuffer", "ExperienceBalancedBuffer", "ReplayPlugin"]


class ReservoirSamplingBuffer:
    r"""A uniform sample of at most ``max_size`` of every item offered (algorithm R).

    Items are rows of a tensor, kept with the index of the experience they came from.

    Args:
        max_size (int): capacity.
        seed (int, optional): seed of the buffer's own generator. (default: ``0``)
    """

    def __init__(self, max_size: int, seed: int = 0) -> None:
        if int(max_size) < 0:
            raise ValueError(f"replay buffer size must be >= 0, got {max_size}")
        self.max_size = int(max_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.items: Tensor | None = None
        self.experiences = torch.empty(0, dtype=torch.long)
        self.seen = 0

    def __len__(self) -> int:
        return int(self.experiences.numel())

    def update(self, items: Tensor, experience: int) -> None:
        r"""Offers ``items`` (``[k, ...]``) of ``experience``, as ``k`` consecutive steps of
        algorithm R: the ``m``-th item seen takes a random slot ``j ~ U{0..m}`` when ``j`` is
        below the capacity (the last write to a slot wins, as it would one item at a time)."""
        k = int(items.size(0))
        if k == 0 or self.max_size == 0:
            self.seen += k
            return
        m = self.seen + torch.arange(k)
        j = (torch.rand(k, generator=self.generator, dtype=torch.float64)
             * (m + 1)).floor().long()
        slot = torch.where(m < self.max_size, m, j)
        ok = slot < self.max_size
        size = min(self.max_size, self.seen + k)
        winner = torch.full((size,), -1, dtype=torch.long).scatter_reduce(
            0, slot[ok], torch.arange(k)[ok], "amax", include_self=True)
        store = torch.empty((size, *items.shape[1:]), dtype=items.dtype)
        exps = torch.empty(size, dtype=torch.long)
        if len(self):
            store[: len(self)] = self.items
            exps[: len(self)] = self.experiences
        hit = winner >= 0
        store[hit] = items[winner[hit]]
        exps[hit] = int(experience)
        self.items, self.experiences = store, exps
        self.seen += k

    def state_dict(self) -> dict[str, Any]:
        return {"items": self.items, "experiences": self.experiences, "seen": self.seen,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.items, self.experiences = state["items"], state["experiences"]
        self.seen = int(state["seen"])
        self.generator.set_state(state["generator"])


class ExperienceBalancedBuffer(ReservoirSamplingBuffer):
    r"""An equal share of ``max_size`` per experience seen so far (the first experiences get
    the remainder), each share a uniform sample of its experience's items; the shares of
    earlier experiences shrink, by uniform subsampling, as experiences arrive."""

    def update(self, items: Tensor, experience: int) -> None:
        k = int(items.size(0))
        self.seen += k
        known = sorted(set(self.experiences.tolist()) | {int(experience)})
        quota = {e: self.max_size // len(known) + (r < self.max_size % len(known))
                 for r, e in enumerate(known)}
        keep_items, keep_exps = [], []
        for e in known:  # one step per experience
            if e == int(experience):
                src = items
            else:
                src = self.items[self.experiences == e]
            take = torch.randperm(src.size(0), generator=self.generator)[: quota[e]]
            keep_items.append(src[take.sort().values])
            keep_exps.append(torch.full((take.numel(),), e, dtype=torch.long))
        self.items = torch.cat(keep_items)
        self.experiences = torch.cat(keep_exps)


@register_plugin("replay")
class ReplayPlugin(Plugin):
    r"""Experience replay with a bounded buffer.

    Args:
        mem_size (int, optional): buffer capacity, in examples. (default: ``200``)
        batch_size_mem (int, optional): examples replayed per step, drawn uniformly from the
            buffer (default: all of it).
        storage_policy (str, optional): ``"experience_balanced"`` or ``"reservoir"``.
            (default: ``"experience_balanced"``)
        weight (float, optional): weight :math:`w` of the memory loss. (default: ``1.0``)
        seed (int, optional): seed of the buffer's and the sampling's generator.
            (default: ``0``)
    """

    def __init__(self, mem_size: int = 200, batch_size_mem: int | None = None,
                 storage_policy: str = "experience_balanced", weight: float = 1.0,
                 seed: int = 0) -> None:
        policies = {"experience_balanced": ExperienceBalancedBuffer,
                    "reservoir": ReservoirSamplingBuffer}
        if storage_policy not in policies:
            raise ValueError(f"replay storage_policy must be one of {sorted(policies)}, got "
                             f"{storage_policy!r}")
        if batch_size_mem is not None and int(batch_size_mem) < 1:
            raise ValueError(f"replay batch_size_mem must be >= 1, got {batch_size_mem}")
        if float(weight) < 0:
            raise ValueError(f"replay weight must be >= 0, got {weight}")
        self.storage_policy = storage_policy
        self.buffer = policies[storage_policy](int(mem_size), seed)
        self.batch_size_mem = None if batch_size_mem is None else int(batch_size_mem)
        self.weight = float(weight)
        self.last_memory_loss: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        task = strategy.experience
        if getattr(task, "unlearn_request", None) is not None:
            return
        if not hasattr(task, "replay_items"):
            raise TypeError(f"replay: {type(task).__name__} has no replay_items(); it cannot "
                            "be replayed")
        self.buffer.update(task.replay_items(strategy), strategy.experience_index)

    def before_unlearn(self, strategy: Any, request: Any = None, **kwargs: Any) -> None:
        r"""A task-unlearning request removes the task's examples from the buffer."""
        label = getattr(request, "task_label", None)
        if label is None or len(self.buffer) == 0:
            return
        labels = torch.tensor([-1 if getattr(e, "task_label", None) is None else
                               int(e.task_label) for e in strategy.stream])  # per experience
        drop = labels[self.buffer.experiences] == int(label)
        self.buffer.items = self.buffer.items[~drop]
        self.buffer.experiences = self.buffer.experiences[~drop]

    def memory_loss(self, strategy: Any) -> Tensor | None:
        r"""The mean training loss over a sample of the buffer (``None`` when it is empty),
        each experience's share weighted by its number of examples."""
        n = len(self.buffer)
        if n == 0:
            return None
        pick = torch.arange(n)
        if self.batch_size_mem is not None and self.batch_size_mem < n:
            pick = torch.randperm(n, generator=self.buffer.generator)[: self.batch_size_mem]
        exps, items = self.buffer.experiences[pick], self.buffer.items[pick]
        total = None
        for e in torch.unique(exps).tolist():  # one loss per stored experience
            sel = exps == e
            loss = strategy.stream[e].replay_loss(strategy, items[sel]) * (sel.sum() / pick.numel())
            total = loss if total is None else total + loss
        return total

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return
        loss = self.memory_loss(strategy)
        if loss is not None:
            strategy.loss = strategy.loss + self.weight * loss
            self.last_memory_loss = float(loss.detach())

    def __repr__(self) -> str:
        return (f"ReplayPlugin(mem_size={self.buffer.max_size}, storage_policy="
                f"{self.storage_policy!r}, stored={len(self.buffer)})")
