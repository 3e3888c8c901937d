r"""Meta-training a graph metanetwork for pruning, and the prune-and-fine-tune protocol.

The metanetwork (:class:`~graphcl.models.metanet.MetaNetwork`) reads a trained network as a
graph (:func:`~graphcl.nn.netgraph.network_to_graph`) and writes edited weights. It is trained
so that the network it writes stays accurate *and* is easy to prune by group magnitude (Liu,
Wang & Zhang, arXiv 2506.12041):

.. math::
    \mathcal{L}(\phi) = \mathrm{CE}\big(f(x; \theta'), y\big) + \frac{\lambda}{2}\sum_g
    \gamma_g \lVert \theta'_g \rVert^2, \qquad \theta' = \mathrm{decode}(\mathrm{Meta}_\phi(
    G(\theta))),

the group term DepGraph's sparse-learning regulariser written as a loss with
:math:`\gamma_g = \alpha^{(I_{max} - I_g)/(I_{max} - I_{min})}` held constant (detached): its
gradient is the released code's injected ``λ γ_g w_g``. A group is a channel with everything
coupled to it: its kernels (the layer's output row), the next layers' input columns and its
batch-norm scale; in the graph it is one node with its incident edges (channels joined by a
residual addition are joined through its identity edges). The importance :math:`I_g` is the
group's L2 norm with its members' squared norms mean-reduced, as Torch-Pruning's
``GroupMagnitudeImportance(p=2, group_reduction="mean")`` (a normaliser does not change
:math:`\gamma`).

The cross-entropy is the mean over one batch of ``batch_size`` images per step (the released
code sums it over every batch of 500 of the training set, its "less VRAM" mode uses one; a
GNN's batch is its full training graph); the default :math:`\lambda` is rescaled accordingly
(see ``models/metaprune.yaml``).

:func:`prune_and_finetune` is the pruning protocol shared by the metanetwork and its baselines:
an optional first stage (plain fine-tuning, or DepGraph sparse training with the
``group-sparsity`` plugin), structured pruning to a FLOPs speed-up, a final fine-tune.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.nn.netgraph import NetGraph, graph_parameters, graph_to_network, network_to_graph
from graphcl.nn.structured_pruning import group_penalty

__all__ = ["ImageData", "NodeData", "MetaPruneTask", "edit_network",
           "finetune", "prune_and_finetune", "latency"]


class ImageData:
    r"""The image side of metanetwork pruning: batches of an :class:`~graphcl.train.tasks.
    ImageClassificationTask`'s images, accuracy on a split, pruning with Torch-Pruning."""

    def __init__(self, task: Any, batch_size: int = 256) -> None:
        self.task, self.batch_size = task, int(batch_size)
        self.input_shape = tuple(task.images.shape[1:])
        self.concrete_args = None

    def batch(self, generator: torch.Generator) -> tuple[tuple[Tensor, ...], Tensor]:
        idx = self.task.splits["train"]
        pick = idx[torch.randint(idx.numel(), (self.batch_size,), generator=generator)]
        return (self.task.images[pick],), self.task.labels[pick]

    @torch.no_grad()
    def accuracy(self, model: nn.Module, split: str, limit: int | None = None) -> float:
        idx = self.task.splits[split][:limit]
        was = model.training
        model.eval()
        correct = sum(int((model(self.task.images[c]).argmax(1) == self.task.labels[c]).sum())
                      for c in idx.split(1000))
        model.train(was)
        return correct / max(idx.numel(), 1)

    def prune(self, model: nn.Module, speedup: float, importance: str) -> dict[str, float]:
        from graphcl.nn.structured_pruning import prune_to_speedup

        return prune_to_speedup(model, self.task.images[:1], speedup, importance=importance)

    def example(self) -> tuple[Tensor, ...]:
        return (self.task.images[:256],)



class NodeData:
    r"""The GNN side of metanetwork pruning: full-batch node classification (a
    :class:`~graphcl.train.tasks.NodeClassificationTask`), pruning on the network graph
    (:func:`~graphcl.nn.structured_pruning.graph_prune_to_speedup`: Torch-Pruning does not
    trace message passing), MACs on the task's graph."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.input_shape = (int(task.data.x.size(1)),)
        self.concrete_args = {"batch": None}

    def batch(self, generator: torch.Generator) -> tuple[tuple[Tensor, ...], Tensor]:
        d = self.task.data
        return (d.x, d.edge_index), d.y.masked_fill(~d.train_mask, -100)

    @torch.no_grad()
    def accuracy(self, model: nn.Module, split: str, limit: int | None = None) -> float:
        was = model.training
        model.eval()
        acc = self.task.evaluate(SimpleNamespace(model=model), split)["acc"]
        model.train(was)
        return float(acc)

    def prune(self, model: nn.Module, speedup: float, importance: str) -> dict[str, float]:
        from graphcl.nn.structured_pruning import graph_prune_to_speedup

        graph = network_to_graph(model, self.input_shape, self.concrete_args)
        return graph_prune_to_speedup(model, graph, speedup, num_nodes=self.task.data.num_nodes,
                                      num_edges=int(self.task.data.edge_index.size(1)),
                                      importance=importance)

    def example(self) -> tuple[Tensor, ...]:
        return (self.task.data.x, self.task.data.edge_index)


class MetaPruneTask:
    r"""Meta-training over a population of trained networks (the "data models") of one
    architecture: a step passes one data model through the metanetwork (the engine's model),
    decodes it and takes the loss of the module docstring on one training batch of ``data``
    (:class:`ImageData` or :class:`NodeData`).

    Validation passes each validation data model through the metanetwork, prunes the result to
    ``speedup`` without fine-tuning and reports its validation accuracy (``pruned_acc``, an
    automatic stand-in for the released code's hand-read curves), with the decoded, unpruned
    accuracy (``acc``).

    Args:
        template (nn.Module): the architecture (its weights are not used).
        train_models (list[nn.Module]): meta-training data models.
        val_models (list[nn.Module]): validation data models.
        data (ImageData | NodeData): the data the data models were trained on.
        reg (float), alpha (float): the group term's :math:`\lambda` and :math:`\alpha`.
        speedup (float): the FLOPs speed-up of the validation proxy.
        steps_per_model (int): steps per data model and epoch.
        val_limit (int, optional): validation examples used by the proxy (images).
        seed (int): the order of data models and batches (a generator of the task's own).
    """

    def __init__(self, template: nn.Module, train_models: Sequence[nn.Module],
                 val_models: Sequence[nn.Module], data: Any, *, reg: float = 0.1,
                 alpha: float = 16.0, speedup: float = 2.0, steps_per_model: int = 10,
                 val_limit: int | None = 2000, seed: int = 0) -> None:
        if not train_models:
            raise ValueError("MetaPruneTask: no meta-training data models")
        self.template = copy.deepcopy(template).eval()
        self.data = data
        self.graphs = [network_to_graph(m, data.input_shape, data.concrete_args)
                       for m in train_models]
        self.val_graphs = [network_to_graph(m, data.input_shape, data.concrete_args)
                           for m in val_models]
        self.reg, self.alpha, self.speedup = float(reg), float(alpha), float(speedup)
        self.steps = int(steps_per_model)
        self.val_limit = val_limit
        self.generator = torch.Generator().manual_seed(int(seed))
        self.num_train_examples = len(self.graphs) * self.steps

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def train_batches(self, strategy: Any) -> Iterator[tuple[int, tuple, Tensor]]:
        for i in torch.randperm(len(self.graphs), generator=self.generator).tolist():
            for _ in range(self.steps):
                yield (i, *self.data.batch(self.generator))

    def training_loss(self, strategy: Any, batch: tuple[int, tuple, Tensor]) -> Tensor:
        i, inputs, target = batch
        graph = self.graphs[i]
        x, e = strategy.model(graph.x, graph.edge_index, graph.edge_attr, graph.edge_type)
        params = graph_parameters(graph, x, e)
        logits = torch.func.functional_call(self.template, params, inputs)
        return (F.cross_entropy(logits, target, ignore_index=-100)
                + group_penalty(graph, params, self.reg, self.alpha))

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split != "valid":
            raise ValueError(f"MetaPruneTask evaluates 'valid' only, got {split!r}")
        accs, pruned = [], []
        for graph in self.val_graphs:
            net = edit_network(strategy.model, graph, self.template)
            accs.append(self.data.accuracy(net, "valid", self.val_limit))
            self.data.prune(net, self.speedup, "l2")
            pruned.append(self.data.accuracy(net, "valid", self.val_limit))
        return {"acc": sum(accs) / len(accs), "pruned_acc": sum(pruned) / len(pruned)}


@torch.no_grad()
def edit_network(metanet: nn.Module, graph: NetGraph, template: nn.Module) -> nn.Module:
    r"""The network the metanetwork writes for ``graph`` (a copy of ``template``)."""
    was = metanet.training
    metanet.eval()
    x, e = metanet(graph.x, graph.edge_index, graph.edge_attr, graph.edge_type)
    metanet.train(was)
    edited = NetGraph(x, graph.edge_index, e, graph.edge_type, graph.layer_ptr, graph.layers)
    return graph_to_network(edited, template)


def finetune(model: nn.Module, task: Any, epochs: int, lr: float,
             plugins: Sequence[Any] = ()) -> nn.Module:
    r"""Trains ``model`` in place for ``epochs`` epochs of ``task`` (Adam, through the Engine)
    and returns it with the weights of its most accurate validation epoch (as the released
    code's fine-tunes return their best epoch)."""
    from graphcl.train.engine import Engine

    if epochs > 0:
        engine = Engine(model, torch.optim.Adam(model.parameters(), lr=lr), plugins=plugins,
                        max_epochs=int(epochs), eval_splits=("valid",), monitor="valid_acc",
                        progress=False)
        engine.fit(task)
    return model


def prune_and_finetune(model: nn.Module, data: Any, speedups: Sequence[float], *,
                       before_plugins: Sequence[Any] = (), before_epochs: int = 1,
                       after_epochs: int = 1, lr: float = 1e-3, importance: str = "l2"
                       ) -> list[dict[str, Any]]:
    r"""The structured-pruning protocol at an equal training budget: ``before_epochs`` of
    training with ``before_plugins`` (none: plain fine-tuning; the ``group-sparsity`` plugin:
    DepGraph's sparse training), then, for each speed-up, a copy pruned to it by
    ``importance`` and fine-tuned ``after_epochs``, all on ``data``'s task
    (:class:`ImageData` or :class:`NodeData`). Returns per speed-up the measured speed-up,
    MACs, parameters, the test accuracy before and after the final fine-tune, and the pruned
    model."""
    base = finetune(copy.deepcopy(model), data.task, before_epochs, lr, before_plugins)
    out = []
    for s in speedups:
        net = copy.deepcopy(base)
        info = data.prune(net, float(s), importance)
        pruned = data.accuracy(net, "test")
        finetune(net, data.task, after_epochs, lr)
        out.append({**info, "target": float(s), "acc_pruned": pruned,
                    "acc": data.accuracy(net, "test"), "model": net})
    return out


@torch.no_grad()
def latency(model: nn.Module, example: tuple[Tensor, ...], repeats: int = 20) -> float:
    r"""Median seconds of one eval-mode forward pass of ``example`` on this CPU."""
    import time

    was = model.training
    model.eval()
    model(*example)
    times = []
    for _ in range(int(repeats)):
        t = time.perf_counter()
        model(*example)
        times.append(time.perf_counter() - t)
    model.train(was)
    return sorted(times)[len(times) // 2]
