r"""W2PGNN's generator space: convex combinations of graphon bases, one per candidate
pre-training set (Cao et al., "When to Pre-Train Graph Neural Networks? From Data Generation
Perspective!", KDD 2023)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class GraphonMixtures(torch.nn.Module):
    r"""For every candidate :math:`c`, mixing logits :math:`w_c` (initialised to ones, so the
    first mixture is the uniform one) over its bases :math:`B_{c,1..K_c}`; the generator is
    :math:`\sum_k \mathrm{softmax}(w_c)_k B_{c,k}`.

    The best mixing weights seen for each candidate (lowest loss) are buffers, so that a
    checkpoint and ``state_dict`` carry them.

    Args:
        bases (Sequence[Tensor]): ``[K_c, n, n]`` bases of every candidate, at the resolution
            the weights are fitted at.
    """

    def __init__(self, bases: Sequence[Tensor]) -> None:
        super().__init__()
        if not bases:
            raise ValueError("GraphonMixtures needs at least one candidate")
        self.logits = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.ones(b.size(0), dtype=torch.float64)) for b in bases])
        for i, b in enumerate(bases):
            self.register_buffer(f"bases_{i}", b.double())
            self.register_buffer(f"best_logits_{i}", torch.ones(b.size(0), dtype=torch.float64))
        self.register_buffer("best_loss", torch.full((len(bases),), float("inf"),
                                                     dtype=torch.float64))

    @property
    def num_candidates(self) -> int:
        return len(self.logits)

    def num_bases(self, c: int) -> int:
        return int(self.logits[c].numel())

    def bases(self, c: int) -> Tensor:
        return getattr(self, f"bases_{c}")

    def alpha(self, c: int, best: bool = False) -> Tensor:
        r"""Mixing weights of candidate ``c`` (current, or the best seen)."""
        w = getattr(self, f"best_logits_{c}") if best else self.logits[c]
        return torch.softmax(w, 0)

    def forward(self, c: int) -> Tensor:
        r"""The generator of candidate ``c`` at the current weights ``[n, n]``."""
        return torch.einsum("k,kij->ij", self.alpha(c), self.bases(c))

    @torch.no_grad()
    def record(self, c: int, loss: float) -> None:
        r"""Keeps the current weights of ``c`` if ``loss`` is its lowest so far."""
        if loss < float(self.best_loss[c]):
            self.best_loss[c] = loss
            getattr(self, f"best_logits_{c}").copy_(self.logits[c].detach())
