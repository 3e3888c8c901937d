r"""Continual-learning metrics over the accuracy matrix :math:`R` of a stream.

:math:`R_{i,j}` is the metric (accuracy, AP ...) on experience :math:`j`'s test data after
training experience :math:`i` (``T`` experiences); :math:`b_j` is that of the model before
any training. Following Lopez-Paz & Ranzato (GEM, NeurIPS 2017) and Chaudhry et al.
(RWalk, ECCV 2018), as Avalanche and CGLB report them:

.. math::
    \mathrm{AA} = \frac1T \sum_j R_{T-1,j}, \quad
    \mathrm{BWT} = \frac{1}{T-1} \sum_{j<T-1} (R_{T-1,j} - R_{j,j}), \quad
    \mathrm{FWT} = \frac{1}{T-1} \sum_{j>0} (R_{j-1,j} - b_j),

and average forgetting :math:`\mathrm{AF} = \frac{1}{T-1} \sum_{j<T-1}
\max_{l<T-1} R_{l,j} - R_{T-1,j}` (over the rows at or after :math:`j`'s own, where it has
been learnt). For unlearning inside a stream, :func:`task_relapse` measures how much of a
forgotten experience comes back with later learning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["metric_matrix", "average_accuracy", "average_forgetting", "backward_transfer",
           "forward_transfer", "task_relapse", "retained_drop", "unlearning_metrics",
           "continual_metrics"]


def _check(R: Tensor) -> Tensor:
    R = torch.as_tensor(R, dtype=torch.float64)
    if R.dim() != 2 or R.size(0) != R.size(1) or R.numel() == 0:
        raise ValueError(f"the metric matrix must be square T x T, got shape {tuple(R.shape)}")
    return R


def metric_matrix(matrix: Sequence[Sequence[dict[str, float]]], key: str) -> Tensor:
    r"""``R[i, j] = matrix[i][j][key]`` from :meth:`~graphcl.train.Engine.fit_stream`'s
    ``"matrix"`` (rows of per-experience metric dicts)."""
    try:
        return torch.tensor([[float(m[key]) for m in row] for row in matrix],
                            dtype=torch.float64)
    except KeyError:
        keys = sorted(matrix[0][0]) if matrix and matrix[0] else []
        raise KeyError(f"metric {key!r} is not in the stream's matrix (keys: {keys})") from None


def average_accuracy(R: Tensor) -> float:
    r"""Mean of the last row: the final metric averaged over every experience."""
    return float(_check(R)[-1].mean())


def average_forgetting(R: Tensor) -> float:
    r"""Mean over ``j < T-1`` of the best earlier value of experience ``j`` (rows ``j`` to
    ``T-2``) minus its final value; ``0`` for a single experience."""
    R = _check(R)
    T = R.size(0)
    if T < 2:
        return 0.0
    rows = torch.arange(T - 1).view(-1, 1)
    learnt = rows >= torch.arange(T).view(1, -1)  # row l has learnt experience j when l >= j
    past = R[: T - 1].masked_fill(~learnt, float("-inf"))
    best = past.max(0).values[: T - 1]
    return float((best - R[-1, : T - 1]).mean())


def backward_transfer(R: Tensor) -> float:
    r"""BWT: mean over ``j < T-1`` of ``R[T-1, j] - R[j, j]`` (negative: forgetting)."""
    R = _check(R)
    T = R.size(0)
    if T < 2:
        return 0.0
    return float((R[-1, : T - 1] - R.diagonal()[: T - 1]).mean())


def forward_transfer(R: Tensor, initial: Tensor | Sequence[float]) -> float:
    r"""FWT: mean over ``j > 0`` of ``R[j-1, j] - b[j]`` where ``b`` holds each experience's
    metric before any training."""
    R = _check(R)
    b = torch.as_tensor(initial, dtype=torch.float64).view(-1)
    T = R.size(0)
    if b.numel() != T:
        raise ValueError(f"forward transfer needs {T} initial values, got {b.numel()}")
    if T < 2:
        return 0.0
    return float((R.diagonal(1) - b[1:]).mean())


def task_relapse(R: Tensor, task: int, unlearned_at: int) -> float:
    r"""How far a forgotten experience comes back: the largest rise of ``R[:, task]`` after
    row ``unlearned_at`` (the row right after the unlearning request) over its value there
    (``0`` when it never rises, or when no row follows)."""
    R = _check(R)
    T = R.size(0)
    if not 0 <= task < T or not 0 <= unlearned_at < T:
        raise ValueError(f"task {task} / row {unlearned_at} outside a {T} x {T} matrix")
    later = R[unlearned_at + 1:, task]
    if later.numel() == 0:
        return 0.0
    return max(float(later.max() - R[unlearned_at, task]), 0.0)


def retained_drop(R: Tensor, retained: Sequence[int], before: int, after: int) -> float:
    r"""Mean drop of the ``retained`` experiences' metric from row ``before`` to row
    ``after`` (positive: they lost accuracy)."""
    R = _check(R)
    idx = torch.as_tensor(list(retained), dtype=torch.long)
    if idx.numel() == 0:
        return 0.0
    return float((R[before, idx] - R[after, idx]).mean())


def unlearning_metrics(R: Tensor, row: int, forgotten: int, learnt: Sequence[int],
                       name: str = "acc") -> dict[str, float]:
    r"""A stream with one task-unlearning experience at ``row`` that forgets the task of
    column ``forgotten``: ``forgotten_<m>_before`` / ``_after`` (the rows around it),
    ``forgotten_<m>_final``, ``relapse`` (:func:`task_relapse`), ``retained_drop`` (of the
    columns in ``learnt`` learnt before it) and ``retained_avg_<m>`` (the last row over the
    learnt columns but the forgotten one)."""
    R = _check(R)
    retained = [j for j in learnt if j != forgotten and j < row]
    others = [j for j in learnt if j != forgotten]
    return {f"forgotten_{name}_before": float(R[row - 1, forgotten]),
            f"forgotten_{name}_after": float(R[row, forgotten]),
            f"forgotten_{name}_final": float(R[-1, forgotten]),
            "relapse": task_relapse(R, forgotten, row),
            "retained_drop": retained_drop(R, retained, row - 1, row),
            f"retained_avg_{name}": float(R[-1, others].mean()) if others else float("nan")}


def continual_metrics(matrix: Sequence[Sequence[dict[str, float]]], key: str,
                      initial: Sequence[dict[str, float]] | None = None,
                      unlearning: tuple[int, int] | None = None) -> dict[str, Any]:
    r"""The stream's summary under ``key`` (e.g. ``"test_acc"``): ``avg_<m>`` (AA),
    ``forgetting``, ``bwt``, ``fwt`` (when ``initial`` is given) and ``final_exp<j>_<m>``
    (the last row). With ``unlearning = (row, forgotten column)`` (a task-unlearning
    experience in the stream), AA, forgetting, BWT and FWT are computed on the learning
    experiences (that row and column left out, and the forgotten task too for AA and
    forgetting) and :func:`unlearning_metrics` are added."""
    R = metric_matrix(matrix, key)
    name = key.split("_", 1)[-1]
    learn, forgotten, extra = list(range(R.size(0))), None, {}
    if unlearning is not None:
        row, forgotten = unlearning
        learn = [i for i in learn if i != row]
        extra = unlearning_metrics(R, row, forgotten, learn, name)
    sub = R[learn][:, learn]
    keep = [i for i, j in enumerate(learn) if j != forgotten]
    kept = sub[keep][:, keep]
    out: dict[str, Any] = {f"avg_{name}": float(sub[-1, keep].mean()),
                           "forgetting": average_forgetting(kept),
                           "bwt": backward_transfer(kept)}
    if initial is not None:
        out["fwt"] = forward_transfer(sub, [float(initial[j][key]) for j in learn])
    out.update(extra)
    for j, v in enumerate(R[-1].tolist()):
        out[f"final_exp{j}_{name}"] = v
    return out
    out: dict[str, Any] = {f"avg_{name}": average_accuracy(R),
                           "forgetting": average_forgetting(R),
                           "bwt": backward_transfer(R)}
    if initial is not None:
        b = [float(m[key]) for m in initial]
        out["fwt"] = forward_transfer(R, b)
    for j, v in enumerate(R[-1].tolist()):
        out[f"final_exp{j}_{name}"] = v
    return out
