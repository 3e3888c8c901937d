r"""Experiences of continual-learning streams as :class:`~graphcl.train.engine.Task` s.

A method builds one task for a whole dataset; :func:`build_stream` cuts it into the
experiences of a stream (:class:`~graphcl.data.streams.StreamSpec`), which
:meth:`~graphcl.train.Engine.fit_stream` trains in turn.

Every experience also offers what the continual strategies of :mod:`graphcl.lifelong` need,
so that one strategy reaches every task:

* ``task_label`` (int): the experience's index (task-incremental scenarios pass it to the
  model's head, supermasks and hypernetworks select weights by it);
* ``replay_items(strategy) -> Tensor``: ids of its training examples (a replay buffer stores
  them), and ``replay_loss(strategy, items) -> Tensor``: the training loss on stored ids,
  computed on this experience's data whatever experience is training;
* ``logits(strategy, batch, model) -> Tensor`` and ``active_classes(strategy)``: outputs on
  a training batch and the classes they range over (distillation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.data.streams import StreamSpec, class_groups, node_subgraph, parse_stream_spec
from graphcl.evaluate import metrics as M
from graphcl.train.temporal import (
    EventStream,
    TemporalLinkTask,
    absorb_stream,
    evaluate_stream,
    memory_backup,
    memory_restore,
)

__all__ = ["NodeExperience", "node_class_stream", "EventWindowExperience",
           "event_window_stream", "TaskUnlearnRequest", "TaskUnlearnExperience",
           "with_unlearning", "build_stream"]


def _group_table(groups: Sequence[Sequence[int]], num_classes: int) -> Tensor:
    r"""``table[c]`` = the index of the group holding class ``c`` (``-1``: none)."""
    table = torch.full((num_classes,), -1, dtype=torch.long)
    for i, g in enumerate(groups):  # one step per experience
        table[torch.tensor(list(g), dtype=torch.long)] = i
    return table


def _tasks_seen(strategy: Any) -> int:
    r"""The highest task label among the experiences trained so far (the stream position
    when the experiences carry no labels)."""
    idx = int(getattr(strategy, "experience_index", 0))
    labels = [getattr(e, "task_label", None) for e in getattr(strategy, "stream", [])[: idx + 1]]
    labels = [int(x) for x in labels if x is not None]
    return max(labels) if labels else idx


class NodeExperience:
    r"""One experience of a class- or task-incremental node-classification stream.

    The model is called as ``model(x, edge_index) -> logits [n, C]`` over every class of the
    dataset; the experience reads the columns of the classes it may predict:

    * ``scenario="class"`` (class-incremental): every class seen so far, i.e. of the
      experiences ``0..k`` where ``k`` is the experience being trained
      (``strategy.experience_index``, at least this experience's own index);
    * ``scenario="task"`` (task-incremental): each node only its own task's classes.

    Args:
        x (Tensor): features of the experience's graph ``[n, F]``.
        edge_index (Tensor): its edges, relabelled to ``0..n-1``.
        y (Tensor): labels ``[n]`` (original class ids).
        masks (Sequence[Tensor]): boolean train / valid / test masks ``[n]``, over its own
            classes only.
        classes (Sequence[int]): the classes it trains on.
        groups (Sequence[Sequence[int]]): the classes of every experience of the stream.
        index (int): its position in the stream (``task_label``).
        scenario (str, optional): ``"class"`` or ``"task"``. (default: ``"class"``)
        nodes (Tensor, optional): the original ids of its nodes (for reference).
    """

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, masks: Sequence[Tensor],
                 classes: Sequence[int], groups: Sequence[Sequence[int]], index: int, *,
                 scenario: str = "class", nodes: Tensor | None = None) -> None:
        if scenario not in ("class", "task"):
            raise ValueError(f"scenario must be 'class' or 'task', got {scenario!r}")
        self.x, self.edge_index, self.y = x, edge_index, y
        self.train_mask, self.val_mask, self.test_mask = masks
        self.train_idx = self.train_mask.nonzero().view(-1)
        self.classes = [int(c) for c in classes]
        self.groups = [[int(c) for c in g] for g in groups]
        self.task_label = int(index)
        self.scenario = scenario
        self.nodes = nodes
        num_classes = max(max(c for g in self.groups for c in g), int(y.max())) + 1
        self._group_of = _group_table(self.groups, num_classes)
        self.num_train_examples = int(self.train_idx.numel())

    # --- the classes the outputs range over ---------------------------------------------------
    def active_classes(self, strategy: Any) -> Tensor:
        r"""The classes of every task seen so far (the output columns a class-incremental
        head ranges over; what distillation keeps in either scenario)."""
        k = max(_tasks_seen(strategy), self.task_label)
        return torch.tensor([c for g in self.groups[: k + 1] for c in g])

    def _targets(self, classes: Tensor, y: Tensor) -> Tensor:
        lookup = torch.full((int(max(classes.max(), y.max())) + 1,), -1, dtype=torch.long)
        lookup[classes] = torch.arange(classes.numel())
        return lookup[y]

    def logits(self, strategy: Any, batch: Tensor, model: torch.nn.Module | None = None) -> Tensor:
        r"""Full logits ``[len(batch), C]`` of ``model`` (default: the strategy's) on nodes
        ``batch`` of this experience's graph."""
        model = strategy.model if model is None else model
        return model(self.x, self.edge_index)[batch]

    # --- Task ---------------------------------------------------------------------------------
    def train_batches(self, strategy: Any) -> Iterator[Tensor]:
        yield self.train_idx

    def _task_logits(self, logits: Tensor, y: Tensor) -> Tensor:
        r"""Task-incremental: each node's logits outside its own task's classes masked out."""
        allowed = self._group_of[: logits.size(1)].view(1, -1) == self._group_of[y].view(-1, 1)
        return logits.masked_fill(~allowed, float("-inf"))

    def training_loss(self, strategy: Any, batch: Tensor) -> Tensor:
        if self.scenario == "task":
            y = self.y[batch]
            return F.cross_entropy(self._task_logits(self.logits(strategy, batch), y), y)
        classes = self.active_classes(strategy)
        out = self.logits(strategy, batch)[:, classes]
        return F.cross_entropy(out, self._targets(classes, self.y[batch]))

    def replay_items(self, strategy: Any) -> Tensor:
        return self.train_idx

    def replay_loss(self, strategy: Any, items: Tensor) -> Tensor:
        return self.training_loss(strategy, items)

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        masks = {"train": self.train_mask, "valid": self.val_mask, "test": self.test_mask}
        if split not in masks:
            raise ValueError(f"split must be one of {sorted(masks)}, got {split!r}")
        idx = masks[split].nonzero().view(-1)
        y = self.y[idx]
        if self.scenario == "task":
            pred = self._task_logits(self.logits(strategy, idx), y).argmax(-1)
        else:
            classes = self.active_classes(strategy)
            pred = classes[self.logits(strategy, idx)[:, classes].argmax(-1)]
        return {"acc": float(M.accuracy(y, pred)), "f1": float(M.f1(y, pred, average="macro"))}

    def __repr__(self) -> str:
        return (f"NodeExperience(index={self.task_label}, classes={self.classes}, "
                f"nodes={self.x.size(0)}, train={self.num_train_examples}, "
                f"scenario={self.scenario!r})")


def node_class_stream(data: Any, spec: StreamSpec | str) -> list[NodeExperience]:
    r"""Cuts a node-classification graph into a class- or task-incremental stream (CGLB).

    Experience ``i`` holds the nodes of its classes; with ``inter_task_edges`` its graph also
    holds the nodes of the experiences before it and the edges to them (their labels are not
    trained on), otherwise it is the subgraph induced by its own nodes. With ``cumulative``,
    experience ``i`` trains on the nodes of experiences ``0..i`` (in their graph), and is
    still validated and tested on its own classes, so its column of the metric matrix is
    comparable with the other strategies'.

    Args:
        data (Data): ``x``, ``edge_index``, ``y`` and ``train_mask``/``val_mask``/``test_mask``.
        spec (StreamSpec or str): a ``class-incremental`` or ``task-incremental`` stream.

    Raises:
        ValueError: another kind of stream, bad class groups, an experience without training
        or test nodes.
    """
    spec = parse_stream_spec(spec) if isinstance(spec, str) else spec
    if spec.kind not in ("class-incremental", "task-incremental"):
        raise ValueError(f"a node-classification task forms class- or task-incremental "
                         f"streams, not {spec.kind!r}")
    y = data.y.view(-1)
    masks = [data.train_mask, data.val_mask, data.test_mask]
    groups = class_groups(y, spec.tasks, labelled=masks[0] | masks[1] | masks[2])
    n = y.numel()
    exp_of = _group_table(groups, max(max(c for g in groups for c in g), int(y.max())) + 1)[y]
    scenario = "class" if spec.kind == "class-incremental" else "task"
    stream = []
    for i in range(len(groups)):
        own = exp_of == i
        seen = (exp_of >= 0) & (exp_of <= i)
        train_on = seen if spec.cumulative else own
        in_graph = seen if (spec.inter_task_edges or spec.cumulative) else own
        nodes = in_graph.nonzero().view(-1)
        ei, _ = node_subgraph(data.edge_index, nodes, n)
        sub = [(masks[0] & train_on)[nodes], (masks[1] & own)[nodes], (masks[2] & own)[nodes]]
        for name, m in zip(("training", "test"), (sub[0], sub[2]), strict=True):
            if not bool(m.any()):
                raise ValueError(f"stream experience {i} (classes {groups[i]}) has no {name} "
                                 "nodes")
        stream.append(NodeExperience(data.x[nodes], ei, y[nodes], sub, groups[i], groups, i,
                                     scenario=scenario, nodes=nodes))
    return stream


@dataclass(frozen=True)
class TaskUnlearnRequest:
    r"""Forget everything task ``task_label`` taught the model (a stream's unlearning
    experience carries it as ``unlearn_request``)."""

    task_label: int
    kind: str = "task"


class TaskUnlearnExperience:
    r"""An experience that unlearns a task learnt earlier in the stream.

    Its loss is the ``task_unlearning_loss(strategy, request)`` of the first plugin that has
    one (the hypernetwork's data-free unlearning); without such a plugin, gradient ascent on
    the forgotten experience's training data (:class:`~graphcl.lifelong.unlearning` 's
    ``grad_ascent`` in the stream). It evaluates as the forgotten experience (its column of
    the metric matrix is the forgotten task's), keeps its last epoch (``model_selection =
    False``) and trains ``epochs`` epochs. Plugins see ``before_unlearn``/``after_unlearn``
    with the request: a replay buffer drops the task's examples, LwF distils from the model
    that has forgotten it.

    Args:
        forget: the learning experience to forget (with ``task_label``).
        epochs (int, optional): (default: ``50``)
    """

    model_selection = False

    def __init__(self, forget: Any, epochs: int = 50) -> None:
        self.forget = forget
        self.task_label = int(forget.task_label)
        self.scenario = getattr(forget, "scenario", "task")
        self.unlearn_request = TaskUnlearnRequest(self.task_label)
        self.max_epochs = int(epochs)
        self.num_train_examples = 0

    def train_batches(self, strategy: Any) -> Iterator[None]:
        yield None

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        for p in strategy.plugins:
            fn = getattr(p, "task_unlearning_loss", None)
            if fn is not None:
                return fn(strategy, self.unlearn_request)
        if not hasattr(self.forget, "replay_loss"):
            raise TypeError(f"unlearning task {self.task_label}: no plugin offers a data-free "
                            f"task_unlearning_loss and {type(self.forget).__name__} has no "
                            "replay_loss for gradient ascent")
        return -self.forget.replay_loss(strategy, self.forget.replay_items(strategy))

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        return self.forget.evaluate(strategy, split)

    def __repr__(self) -> str:
        return f"TaskUnlearnExperience(task={self.task_label}, epochs={self.max_epochs})"


def with_unlearning(stream: list[Any], spec: StreamSpec) -> list[Any]:
    r"""Inserts ``spec.unlearn``'s unlearning experience into a learning stream."""
    if spec.unlearn is None:
        return stream
    u, k = spec.unlearn
    if k >= len(stream):
        raise ValueError(f"stream: unlearn={u}@{k} but the stream has {len(stream)} "
                         "experiences")
    return [*stream[: k + 1], TaskUnlearnExperience(stream[u], spec.unlearn_epochs),
            *stream[k + 1:]]


def build_stream(task: Any, spec: StreamSpec | str) -> list[Any]:
    r"""The experiences of stream ``spec`` cut from a method's whole-dataset ``task``.

    ``repeat:K`` repeats ``task`` itself (e.g. the rounds of the ``lottery`` plugin's
    iterative magnitude pruning). Node-classification tasks (``task.data`` with ``y`` and split
    masks) form class- and
    task-incremental streams, a memory model's :class:`~graphcl.train.temporal.
    TemporalLinkTask` time windows; a task with a ``continual_stream(spec)`` method forms its
    own.

    Raises:
        ValueError: a task that cannot form this stream.
    """
    spec = parse_stream_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "repeat":  # the same task K times (rounds of iterative pruning)
        return [task] * int(spec.tasks)
    if hasattr(task, "continual_stream"):
        return with_unlearning(list(task.continual_stream(spec)), spec)
    if isinstance(task, TemporalLinkTask):
        return with_unlearning(event_window_stream(
            task.data, spec, batch_size=task.batch_size, eval_batch_size=task.eval_batch_size,
            seed=task.seed), spec)
    data = getattr(task, "data", None)
    if data is not None and all(getattr(data, k, None) is not None
                                for k in ("y", "train_mask", "val_mask", "test_mask")):
        return with_unlearning(node_class_stream(data, spec), spec)
    raise ValueError(f"{type(task).__name__} cannot form a {spec.kind} stream: streams need "
                     "a node-classification task, a memory model's temporal link task or a task "
                     "with continual_stream()")


# --- time windows of an event stream -----------------------------------------------------------
def _window_split(num_events: int, a: int, b: int) -> Any:
    from graphcl.data.temporal import TemporalSplit

    n = b - a
    tr, va = a + int(round(0.70 * n)), a + int(round(0.85 * n))
    masks = [torch.zeros(num_events, dtype=torch.bool) for _ in range(3)]
    masks[0][a:tr], masks[1][tr:va], masks[2][va:b] = True, True, True
    empty = torch.zeros(num_events, dtype=torch.bool)
    return TemporalSplit(masks[0], masks[1], masks[2], empty, empty.clone(),
                         torch.empty(0, dtype=torch.long), float("nan"), float("nan"))


class EventWindowExperience(TemporalLinkTask):
    r"""One window of a ``time-window`` stream of a memory model (TGN family).

    The window's events are split chronologically 70/15/15 into training, validation
    and test events. Every epoch starts from the window's entry memory
    (the memory carried over from the earlier windows) instead
    of an empty one. The entry memories are one dictionary ``entries`` (window index → state)
    shared by the stream's experiences: window ``w``'s is window ``w-1``'s with all of
    ``w-1``'s events absorbed by the model that finished training ``w-1``. ``evaluate(split)``
    of any window, whatever the stream's position,
    restores that window's entry memory, absorbs its training (and, for ``test``, its
    validation) events with the current weights and scores the split's events against
    one random negative destination each (AP, AUC); the memory is put back afterwards.
    A window whose entry is not known yet (ahead of the stream) starts from the latest
    known entry with the windows in between absorbed.
    """

    def __init__(self, data: Any, bounds: Sequence[tuple[int, int]], index: int,
                 entries: dict[int, dict[str, Any]], *, cumulative: bool = False,
                 batch_size: int = 200, eval_batch_size: int = 200, seed: int = 0) -> None:
        a, b = bounds[index]
        split = _window_split(data.src.numel(), a, b)
        own_train = split.train_mask.clone()
        if cumulative:  # the training events of every window up to this one
            for a0, b0 in bounds[:index]:
                split.train_mask |= _window_split(data.src.numel(), a0, b0).train_mask
        super().__init__(data, split, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         seed=seed + 101 * index)
        self.own_train = EventStream(data, own_train) if cumulative else self.streams["train"]
        self.bounds, self.task_label, self.entries = list(bounds), int(index), entries
        self.cumulative = cumulative
        self.dst_pool = torch.unique(self.own_train.dst)
        for name in ("train", "valid", "test"):
            if self.streams[name].num_events == 0:
                raise ValueError(f"time-window stream: window {index} ({b - a} events) "
                                 f"has no {name} events; use fewer windows")

    # --- the entry memory of each window ----------------------------------------------
    def _windows(self, i: int) -> EventStream:
        a, b = self.bounds[i]
        return EventStream(self.data, _window_range(self.data.src.numel(), a, b))

    def entry(self, strategy: Any, index: int | None = None) -> dict[str, Any]:
        r"""The memory state at the start of window ``index`` (default: this one)."""
        index = self.task_label if index is None else int(index)
        tgn, scheme = self._parts(strategy)
        if index in self.entries:
            return self.entries[index]
        known = [k for k in self.entries if k < index]
        with_state = memory_backup(tgn, scheme)
        if known:
            start = max(known)
            memory_restore(tgn, scheme, self.entries[start])
        else:
            start = 0
            tgn.reset_state()
            if scheme is not None:
                scheme.reset_state()
        for k in range(start, index):
            absorb_stream(tgn, self._windows(k), self.eval_batch_size)
        state = memory_backup(tgn, scheme)
        memory_restore(tgn, scheme, with_state)
        return state

    def begin_experience(self, strategy: Any) -> None:
        # the model that finished the previous window carries its memory into this one
        self.entries[self.task_label] = self.entry(strategy)

    def on_epoch_start(self, strategy: Any) -> None:
        tgn, scheme = self._parts(strategy)
        if self.cumulative:
            super().on_epoch_start(strategy)
        else:
            memory_restore(tgn, scheme, self.entry(strategy))

    # --- evaluation from the entry memory --------------------------------------------
    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        tgn, scheme = self._parts(strategy)
        keep = memory_backup(tgn, scheme)
        try:
            memory_restore(tgn, scheme, self.entry(strategy))
            absorb_stream(tgn, self.own_train, self.eval_batch_size)
            if split == "test":
                absorb_stream(tgn, self.streams["valid"], self.eval_batch_size)
            neg = self.val_neg if split == "valid" else self.test_neg
            out = evaluate_stream(tgn, self.streams[split], neg, self.eval_batch_size,
                                  scheme)
        finally:
            memory_restore(tgn, scheme, keep)
        return {"ap": out["ap"], "auc": out["auc"]}

    # --- replay of stored events ----------------------------------------------------
    def replay_items(self, strategy: Any) -> Tensor:
        return self.own_train.e_id

    def replay_loss(self, strategy: Any, items: Tensor) -> Tensor:
        r"""BCE of stored events of this window against random negatives from its
        destinations (a generator seeded by the step: exact on resume), scored from the
        current memory, which they do not change."""
        tgn, _ = self._parts(strategy)
        items = items.sort().values
        d = self.data
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(strategy.iteration))
        neg = self.dst_pool[torch.randint(self.dst_pool.numel(), (items.numel(),),
                                          generator=g)]
        pos_out, neg_out, _ = tgn(d.src[items].long(), d.dst[items].long(), d.t[items], neg,
                                  msg=d.msg[items].float())
        return (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "entries": dict(self.entries)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        loaded = {int(k): v for k, v in state["entries"].items()}
        self.entries.clear()  # the dictionary the stream's experiences share
        self.entries.update(loaded)

    def __repr__(self) -> str:
        a, b = self.bounds[self.task_label]
        return (f"EventWindowExperience(window={self.task_label}, events=[{a}, {b}), "
                f"train={self.streams['train'].num_events})")


def _window_range(num_events: int, a: int, b: int) -> Tensor:
    mask = torch.zeros(num_events, dtype=torch.bool)
    mask[a:b] = True
    return mask


def event_window_stream(data: Any, spec: StreamSpec | str, *, batch_size: int = 200,
                        eval_batch_size: int = 200, seed: int = 0) -> list[Any]:
    r"""Cuts an event stream into ``time-window`` experiences of (nearly) equal event count
    for a memory model, its memory carried from window to window (see
    ``EventWindowExperience``); with ``cumulative``, window ``i`` trains on the training
    events of windows ``0..i`` from an empty memory.

    Raises:
        ValueError: another kind of stream, a window without training, validation or test
        events.
    """
    from graphcl.data.streams import time_windows

    spec = parse_stream_spec(spec) if isinstance(spec, str) else spec
    if spec.kind != "time-window":
        raise ValueError(f"an event stream forms time-window streams, not {spec.kind!r}")
    if not isinstance(spec.tasks, int):
        raise ValueError("a time-window stream takes a number of windows")
    bounds = time_windows(data.t, spec.tasks)
    entries: dict[int, dict[str, Any]] = {}
    return [EventWindowExperience(data, bounds, i, entries, cumulative=spec.cumulative,
                                  batch_size=batch_size, eval_batch_size=eval_batch_size,
                                  seed=seed) for i in range(len(bounds))]
