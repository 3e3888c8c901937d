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
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.data.streams import StreamSpec, class_groups, node_subgraph, parse_stream_spec
from graphcl.evaluate import metrics as M

__all__ = ["NodeExperience", "node_class_stream", "build_stream"]


class NodeExperience:
    r"""One experience of a class- or task-incremental node-classification stream.

    The model is called as ``model(x, edge_index) -> logits [n, C]`` over every class of the
    dataset; the experience reads the columns of the classes it may predict:

    * ``scenario="class"`` (class-incremental): every class seen so far, i.e. of the
      experiences ``0..k`` where ``k`` is the experience being trained
      (``strategy.experience_index``, at least this experience's own index);
    * ``scenario="task"`` (task-incremental): only this experience's classes.

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
        self.num_train_examples = int(self.train_idx.numel())

    # --- the classes the outputs range over ---------------------------------------------------
    def active_classes(self, strategy: Any) -> Tensor:
        if self.scenario == "task":
            return torch.tensor(self.classes)
        k = max(int(getattr(strategy, "experience_index", 0)), self.task_label)
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

    def training_loss(self, strategy: Any, batch: Tensor) -> Tensor:
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
        classes = self.active_classes(strategy)
        pred = classes[self.logits(strategy, idx)[:, classes].argmax(-1)]
        y = self.y[idx]
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
    experience ``i`` trains on the classes of experiences ``0..i``.

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
    exp_of = torch.full((n,), -1, dtype=torch.long)
    for i, g in enumerate(groups):  # one pass per experience, not per node
        exp_of[torch.isin(y, torch.tensor(g))] = i
    scenario = "class" if spec.kind == "class-incremental" else "task"
    stream = []
    for i in range(len(groups)):
        own = (exp_of >= 0) & (exp_of <= i) if spec.cumulative else exp_of == i
        in_graph = (exp_of >= 0) & (exp_of <= i) if spec.inter_task_edges else own
        nodes = in_graph.nonzero().view(-1)
        ei, _ = node_subgraph(data.edge_index, nodes, n)
        sub = [(m & own)[nodes] for m in masks]
        classes = [c for g in groups[: i + 1] for c in g] if spec.cumulative else groups[i]
        for name, m in zip(("training", "test"), (sub[0], sub[2]), strict=True):
            if not bool(m.any()):
                raise ValueError(f"stream experience {i} (classes {classes}) has no {name} "
                                 "nodes")
        stream.append(NodeExperience(data.x[nodes], ei, y[nodes], sub, classes, groups, i,
                                     scenario=scenario, nodes=nodes))
    return stream


def build_stream(task: Any, spec: StreamSpec | str) -> list[Any]:
    r"""The experiences of stream ``spec`` cut from a method's whole-dataset ``task``.

    Node-classification tasks (``task.data`` with ``y`` and split masks) form class- and
    task-incremental streams; a task with a ``continual_stream(spec)`` method forms its own
    (e.g. time windows of an event stream).

    Raises:
        ValueError: a task that cannot form this stream.
    """
    spec = parse_stream_spec(spec) if isinstance(spec, str) else spec
    if hasattr(task, "continual_stream"):
        return list(task.continual_stream(spec))
    data = getattr(task, "data", None)
    if data is not None and all(getattr(data, k, None) is not None
                                for k in ("y", "train_mask", "val_mask", "test_mask")):
        return node_class_stream(data, spec)
    raise ValueError(f"{type(task).__name__} cannot form a {spec.kind} stream: streams need "
                     "a node-classification task or a task with continual_stream()")
