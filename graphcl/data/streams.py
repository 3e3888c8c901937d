r"""Streams of experiences cut from one dataset: class groups for class- and
task-incremental learning (CGLB, Zhang et al., NeurIPS 2022 Datasets and Benchmarks) and
chronological windows of an event stream.

These are pure index computations; the tasks that train on them live in
:mod:`graphcl.train.continual`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["StreamSpec", "parse_stream_spec", "class_groups", "node_subgraph",
           "time_windows", "STREAM_KINDS"]

STREAM_KINDS = ("class-incremental", "task-incremental", "time-window", "repeat")


@dataclass(frozen=True)
class StreamSpec:
    r"""A stream of experiences, as ``graphcl run METHOD --stream SPEC`` names it.

    ``SPEC`` is ``KIND:TASKS[,key=value...]``: ``class-incremental:4`` (four tasks, classes in
    their natural order split as evenly as possible, larger groups first),
    ``task-incremental:0-1/2-3/4-5`` (explicit class groups), ``time-window:5`` (five
    windows of equal event count).

    Attributes:
        kind (str): one of ``class-incremental``, ``task-incremental``, ``time-window``.
        tasks (int or tuple): the number of experiences, or explicit class groups.
        inter_task_edges (bool): node streams: an experience's graph also holds the nodes of
            the earlier experiences and the edges to them (CGLB's "with inter-task edges");
            otherwise it is the subgraph induced by its own nodes. (default: ``True``)
        cumulative (bool): experience ``i`` trains on the data of experiences ``0..i`` (the
            joint-training upper bound, Avalanche's ``Cumulative``). (default: ``False``)
        unlearn (tuple, optional): ``(u, k)`` from ``unlearn=U@K``: after experience ``k`` an
            unlearning experience forgets task ``u`` (``u <= k``). (default: ``None``)
        unlearn_epochs (int): epochs of that experience. (default: ``50``)
    """

    kind: str
    tasks: int | tuple[tuple[int, ...], ...]
    inter_task_edges: bool = True
    cumulative: bool = False
    unlearn: tuple[int, int] | None = None
    unlearn_epochs: int = 50

    @property
    def num_experiences(self) -> int:
        return self.tasks if isinstance(self.tasks, int) else len(self.tasks)


def _bool(key: str, value: str, spec: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise ValueError(f"stream {spec!r}: {key} must be true or false, got {value!r}")


def parse_stream_spec(spec: str) -> StreamSpec:
    r"""``"class-incremental:4,inter_task_edges=false"`` → :class:`StreamSpec`.

    Raises:
        ValueError: an unknown kind or option, a task count below 1, malformed groups.
    """
    head, *opts = [p.strip() for p in str(spec).split(",")]
    kind, sep, tasks_s = head.partition(":")
    kind = kind.strip()
    if kind not in STREAM_KINDS:
        raise ValueError(f"stream {spec!r}: unknown kind {kind!r}; use one of {STREAM_KINDS}")
    if not sep or not tasks_s.strip():
        raise ValueError(f"stream {spec!r}: expected {kind}:TASKS (a count or groups 0-1/2-3)")
    tasks: int | tuple[tuple[int, ...], ...]
    if tasks_s.strip().isdigit():
        tasks = int(tasks_s)
        if tasks < 1:
            raise ValueError(f"stream {spec!r}: needs at least one experience")
    else:
        if kind in ("time-window", "repeat"):
            what = "windows" if kind == "time-window" else "experiences"
            raise ValueError(f"stream {spec!r}: {kind} takes a number of {what}")
        try:
            tasks = tuple(tuple(int(c) for c in g.split("-")) for g in tasks_s.split("/"))
        except ValueError:
            raise ValueError(f"stream {spec!r}: class groups are written 0-1/2-3/4, got "
                             f"{tasks_s!r}") from None
    kw: dict[str, Any] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        key = key.strip()
        if not sep or key not in ("inter_task_edges", "cumulative", "unlearn",
                                  "unlearn_epochs"):
            raise ValueError(f"stream {spec!r}: unknown option {opt!r}; known: "
                             "inter_task_edges=BOOL, cumulative=BOOL, unlearn=TASK@AFTER, "
                             "unlearn_epochs=N")
        if key == "unlearn":
            u, at, k = value.partition("@")
            if not at or not u.strip().isdigit() or not k.strip().isdigit():
                raise ValueError(f"stream {spec!r}: unlearn=TASK@AFTER (e.g. 0@1: forget task "
                                 f"0 after experience 1), got {value!r}")
            kw[key] = (int(u), int(k))
            if kw[key][0] > kw[key][1]:
                raise ValueError(f"stream {spec!r}: cannot unlearn task {u} after experience "
                                 f"{k}: it was never learned")
        elif key == "unlearn_epochs":
            if not value.strip().isdigit() or int(value) < 1:
                raise ValueError(f"stream {spec!r}: unlearn_epochs must be >= 1, got {value!r}")
            kw[key] = int(value)
        else:
            kw[key] = _bool(key, value, spec)
    return StreamSpec(kind, tasks, **kw)


def class_groups(y: Tensor, tasks: int | Sequence[Sequence[int]],
                 labelled: Tensor | None = None) -> list[list[int]]:
    r"""The classes of each experience of a class- or task-incremental stream.

    Args:
        y (Tensor): labels ``[N]``.
        tasks (int or Sequence[Sequence[int]]): a number of experiences (the classes present,
            in increasing order, split as evenly as possible with the larger groups first:
            7 classes in 4 tasks are 2, 2, 2, 1) or explicit groups.
        labelled (Tensor, optional): boolean mask of the nodes whose labels count (default:
            all).

    Raises:
        ValueError: more experiences than classes, an empty, repeated or absent class group.
    """
    y = y.view(-1)
    present = torch.unique(y if labelled is None else y[labelled]).tolist()
    if isinstance(tasks, int):
        if tasks > len(present):
            raise ValueError(f"stream: {tasks} experiences but only {len(present)} classes")
        return [chunk.tolist() for chunk in torch.tensor(present).tensor_split(tasks)]
    groups = [list(map(int, g)) for g in tasks]
    seen: set[int] = set()
    for i, g in enumerate(groups):
        if not g:
            raise ValueError(f"stream: experience {i} has no classes")
        missing = sorted(set(g) - set(present))
        if missing:
            raise ValueError(f"stream: experience {i} names classes {missing} that have no "
                             f"labelled node (classes present: {present})")
        overlap = sorted(seen & set(g))
        if overlap or len(set(g)) != len(g):
            raise ValueError(f"stream: classes {overlap or g} appear in more than one place; "
                             "class groups must be disjoint")
        seen |= set(g)
    return groups


def node_subgraph(edge_index: Tensor, nodes: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    r"""The subgraph induced by ``nodes`` (sorted node ids), relabelled to ``0..len-1``.

    Returns:
        tuple: ``(edge_index, mapping)`` where ``mapping[old] = new`` (``-1`` for dropped
        nodes).
    """
    mapping = torch.full((num_nodes,), -1, dtype=torch.long)
    mapping[nodes] = torch.arange(nodes.numel())
    src, dst = mapping[edge_index[0]], mapping[edge_index[1]]
    keep = (src >= 0) & (dst >= 0)
    return torch.stack([src[keep], dst[keep]]), mapping


def time_windows(t: Tensor, windows: int) -> list[tuple[int, int]]:
    r"""``windows`` chronological ``[start, end)`` event ranges of (nearly) equal event count
    over events sorted by time ``t``; events with equal timestamps stay in one window.

    Raises:
        ValueError: fewer events than windows, unsorted times, a window left empty by ties.
    """
    n = int(t.numel())
    if windows < 1 or n < windows:
        raise ValueError(f"time-window stream: {windows} windows over {n} events")
    if n > 1 and bool((t[1:] < t[:-1]).any()):
        raise ValueError("time-window stream: events must be sorted by time")
    cuts = torch.linspace(0, n, windows + 1).round().long()
    # move each inner cut back to the first event of its timestamp (ties stay together)
    inner = torch.searchsorted(t.contiguous(), t[cuts[1:-1].clamp(max=n - 1)], right=False)
    bounds = [0, *inner.tolist(), n]
    out = list(zip(bounds[:-1], bounds[1:], strict=True))
    if any(b <= a for a, b in out):
        raise ValueError(f"time-window stream: {windows} windows leave one empty (too many "
                         "events share a timestamp); use fewer windows")
    return out
