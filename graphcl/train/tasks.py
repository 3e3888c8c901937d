r"""Ready-made :class:`~graphcl.train.engine.Task` s: static link prediction, node and graph
classification. Temporal link prediction lives in :mod:`graphcl.train.temporal`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphcl.data.split import LinkSplit, sample_train_negatives
from graphcl.evaluate import metrics as M


def _link_metrics(pos: Tensor, neg: Tensor, names: Sequence[str]) -> dict[str, float]:
    r"""Computes ``hits@K``, ``mrr`` (one negative list shared by all positives is not MRR, so
    only ``hits@K``), ``auc`` and ``ap`` from positive and negative scores."""
    out: dict[str, float] = {}
    y_true = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    y_score = torch.cat([pos, neg])
    for name in names:
        if name.startswith("hits@"):
            out[name] = float(M.hits_at_k(pos, neg, int(name[5:])))
        elif name == "auc":
            out[name] = float(M.roc_auc(y_true, y_score))
        elif name == "ap":
            out[name] = float(M.average_precision(y_true, y_score))
        else:
            raise ValueError(f"unknown link metric {name!r}; use hits@K, auc or ap")
    return out


def link_bce_loss(model: torch.nn.Module, x: Tensor, edge_index: Tensor, pos: Tensor,
                  neg: Tensor) -> Tensor:
    r"""Binary cross-entropy of the positive pairs (label 1) plus that of the negative pairs
    (label 0), with one ``encode(x, edge_index)`` and ``decode(h, pairs)`` of ``model``."""
    h = model.encode(x, edge_index)
    pos_out = model.decode(h, pos)
    neg_out = model.decode(h, neg)
    return F.binary_cross_entropy_with_logits(
        pos_out, torch.ones_like(pos_out)
    ) + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out))


class ClosureTask:
    r"""Full-batch training of ``loss(model, batch())``: one step per epoch, where ``batch``
    draws what the step needs (fresh negatives, or nothing). Its evaluation (split
    ``"train"``) reports the last training loss, recomputing nothing and drawing nothing, so
    that a caller's generators advance exactly as in the steps. For the small auxiliary
    models of a method (a shadow model, an attacker, a destroyer): see :func:`fit_full_batch`.
    """

    def __init__(self, loss, batch=None) -> None:
        self.loss = loss
        self.batch = batch if batch is not None else (lambda: None)
        self.last = float("nan")

    def train_batches(self, strategy: Any) -> Iterator[Any]:
        yield self.batch()

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        loss = self.loss(strategy.model, batch)
        self.last = float(loss.detach())
        return loss

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        return {"loss": self.last}


def fit_full_batch(model: torch.nn.Module, loss, epochs: int, lr: float, *, batch=None,
                   plugins: Sequence[Any] = ()) -> None:
    r"""``epochs`` full-batch Adam steps at ``lr`` on ``loss(model, batch())``
    (:class:`ClosureTask`) through the :class:`~graphcl.train.engine.Engine`, so that hooks and
    plugins see them; the model keeps its last state."""
    from graphcl.train.engine import Engine

    epochs = int(epochs)
    engine = Engine(model, torch.optim.Adam(model.parameters(), lr=lr), plugins=plugins,
                    max_epochs=epochs, eval_every=max(epochs, 1), eval_splits=("train",),
                    monitor="train_loss", mode="min", progress=False)
    engine.fit(ClosureTask(loss, batch))


class StaticLinkTask:
    r"""Static link prediction on a :class:`~graphcl.data.split.LinkSplit`.

    The model must provide ``encode(x, edge_index) -> h`` and ``decode(h, pairs) -> logits``.
    Each epoch draws fresh training negatives against the training graph only, one per positive
    (``num_neg``), and iterates over a random permutation of the positive training pairs. The
    message-passing graph is the training graph, for training and evaluation alike.

    Args:
        data (Data): node features ``x`` (``None`` allowed if the model embeds ids).
        split (LinkSplit): the split.
        batch_size (int, optional): positive pairs per step. (default: ``65536``)
        metrics (Sequence[str], optional): metrics per split. (default: ``("hits@100", "auc")``)
        num_neg (int, optional): negatives per positive for training. (default: ``1``)
        eval_batch_size (int, optional): pairs scored at once in evaluation.
            (default: ``1 << 18``)
    """

    def __init__(
        self,
        data: Data,
        split: LinkSplit,
        *,
        batch_size: int = 65536,
        metrics: Sequence[str] = ("hits@100", "auc"),
        num_neg: int = 1,
        eval_batch_size: int = 1 << 18,
    ) -> None:
        if batch_size < 1 or num_neg < 1:
            raise ValueError(f"batch_size and num_neg must be >= 1, got {batch_size}, {num_neg}")
        self.x = data.x
        self.split = split
        self.edge_index = split.train_edge_index()
        self.batch_size = batch_size
        self.metrics = tuple(metrics)
        self.num_neg = num_neg
        self.eval_batch_size = eval_batch_size

    def train_batches(self, strategy: Any) -> Iterator[tuple[Tensor, Tensor]]:
        pos = self.split.train_pos
        num = pos.size(1)
        neg = sample_train_negatives(self.split, num * self.num_neg)
        perm = torch.randperm(num)
        for chunk in perm.split(self.batch_size):
            neg_idx = (chunk.view(-1, 1) * self.num_neg + torch.arange(self.num_neg)).view(-1)
            yield pos[:, chunk], neg[:, neg_idx]

    def training_loss(self, strategy: Any, batch: tuple[Tensor, Tensor]) -> Tensor:
        pos, neg = batch
        return link_bce_loss(strategy.model, self.x, self.edge_index, pos, neg)

    def _score(self, model: torch.nn.Module, h: Tensor, pairs: Tensor) -> Tensor:
        return torch.cat(
            [model.decode(h, p) for p in pairs.split(self.eval_batch_size, dim=1)]
        ) if pairs.numel() else torch.empty(0)

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        model = strategy.model
        h = model.encode(self.x, self.edge_index)
        if split == "train":  # train positives against the validation negatives, as OGB does
            pos_pairs, neg_pairs = self.split.train_pos, self.split.valid_neg
        else:
            pos_pairs = getattr(self.split, f"{split}_pos")
            neg_pairs = getattr(self.split, f"{split}_neg")
        return _link_metrics(
            self._score(model, h, pos_pairs), self._score(model, h, neg_pairs), self.metrics
        )


class NodeClassificationTask:
    r"""Full-batch transductive node classification.

    The model is called as ``model(x, edge_index) -> logits [N, C]``; the loss is cross-entropy
    on ``train_mask``. Metrics: ``acc`` and macro ``f1``.

    Args:
        data (Data): ``x``, ``edge_index``, ``y`` and boolean ``train_mask``/``val_mask``/
            ``test_mask`` (``valid`` evaluates ``val_mask``).
    """

    def __init__(self, data: Data) -> None:
        for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
            if getattr(data, key, None) is None:
                raise ValueError(f"NodeClassificationTask needs data.{key}")
        self.data = data

    def train_batches(self, strategy: Any) -> Iterator[Tensor]:
        yield self.data.train_mask

    def training_loss(self, strategy: Any, batch: Tensor) -> Tensor:
        out = strategy.model(self.data.x, self.data.edge_index)
        return F.cross_entropy(out[batch], self.data.y[batch])

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        masks = {"train": "train_mask", "valid": "val_mask", "test": "test_mask"}
        if split not in masks:
            raise ValueError(f"split must be one of {sorted(masks)}, got {split!r}")
        mask = getattr(self.data, masks[split])
        pred = strategy.model(self.data.x, self.data.edge_index)[mask].argmax(-1)
        y = self.data.y[mask]
        return {"acc": float(M.accuracy(y, pred)), "f1": float(M.f1(y, pred, average="macro"))}


class GraphClassificationTask:
    r"""Mini-batch graph classification over a list of :class:`Data` graphs.

    The model is called as ``model(batch) -> logits [B, C]`` with a PyG ``Batch``.

    Args:
        graphs (Sequence[Data]): the graphs, each with a graph label ``y``.
        splits (dict): ``{"train": idx, "valid": idx, "test": idx}`` index tensors.
        batch_size (int, optional): graphs per step. (default: ``32``)
    """

    def __init__(
        self, graphs: Sequence[Data], splits: dict[str, Tensor], *, batch_size: int = 32
    ) -> None:
        from torch_geometric.loader import DataLoader

        missing = {"train", "valid", "test"} - set(splits)
        if missing:
            raise ValueError(f"splits lacks {sorted(missing)}")
        self._loader_cls = DataLoader
        self.graphs = list(graphs)
        self.splits = splits
        self.batch_size = batch_size

    def _subset(self, split: str) -> list[Data]:
        return [self.graphs[i] for i in self.splits[split].tolist()]

    def train_batches(self, strategy: Any) -> Iterator[Any]:
        yield from self._loader_cls(self._subset("train"), self.batch_size, shuffle=True)

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        return F.cross_entropy(strategy.model(batch), batch.y.view(-1))

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        ys, preds = [], []
        # a loader draws its base seed from its generator: a private one keeps evaluation
        # from moving the global RNG, so evaluating more splits never changes training
        loader = self._loader_cls(self._subset(split), self.batch_size,
                                  generator=torch.Generator())
        for batch in loader:
            preds.append(strategy.model(batch).argmax(-1))
            ys.append(batch.y.view(-1))
        y, pred = torch.cat(ys), torch.cat(preds)
        return {"acc": float(M.accuracy(y, pred)), "f1": float(M.f1(y, pred, average="macro"))}


def link_split_for(dataset: Any, seed: int, config: dict[str, Any]) -> tuple[Data, LinkSplit]:
    r"""The link split a runner should use for ``dataset``.

    An OGB link-prediction dataset (an object with ``split_edge``) always gets its official
    split. A plain :class:`Data` graph gets ``config["protocol"]``: ``"ncnc"`` (the NCNC
    authors' 70/10/20 Planetoid protocol, re-drawn per seed) or ``"random"`` (a seeded
    :func:`~graphcl.data.split.random_link_split` with ``val_ratio``/``test_ratio``).
    """
    from graphcl.data.split import ogb_link_split, planetoid_ncnc_split, random_link_split

    protocol = config.get("protocol", "random")
    if hasattr(dataset, "split_edge"):
        data = dataset.data
        return data, ogb_link_split(dataset.split_edge, data.num_nodes)
    if not isinstance(dataset, Data):
        raise TypeError(
            f"link prediction needs a Data graph or an OGB link dataset, got {type(dataset).__name__}"
        )
    if protocol == "official":
        raise ValueError("protocol 'official' needs a dataset with an official split (split_edge)")
    if protocol == "ncnc":
        return dataset, planetoid_ncnc_split(dataset, seed)
    if protocol == "random":
        return dataset, random_link_split(
            dataset,
            val_ratio=config.get("val_ratio", 0.05),
            test_ratio=config.get("test_ratio", 0.10),
            seed=seed,
        )
    raise ValueError(f"unknown link-split protocol {protocol!r}; use 'ncnc', 'random' or 'official'")


def drop_view(batch: Any, node_p: float, edge_p: float, generator: torch.Generator) -> Any:
    r"""A GraphCL view of a PyG ``Batch``: every node dropped with probability ``node_p``
    (with its edges; a graph keeps at least its first node) and every remaining edge with
    probability ``edge_p``, vectorised over the batch."""
    from torch_geometric.data import Batch
    from torch_geometric.utils import subgraph

    n = batch.num_nodes
    keep = torch.rand(n, generator=generator) >= node_p
    keep[batch.ptr[:-1]] = True
    ei, _ = subgraph(keep, batch.edge_index, relabel_nodes=True, num_nodes=n)
    ei = ei[:, torch.rand(ei.size(1), generator=generator) >= edge_p]
    out = Batch(x=batch.x[keep], edge_index=ei, batch=batch.batch[keep])
    out.ptr = torch.cat([keep.new_zeros(1, dtype=torch.long),
                         torch.bincount(out.batch, minlength=batch.num_graphs).cumsum(0)])
    return out


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    r"""GraphCL's contrastive loss: for each graph, its other view is the positive and the
    other graphs' other views are the negatives (cosine similarities / ``temperature``)."""
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    sim = z1 @ z2.T / temperature
    target = torch.arange(z1.size(0))
    return F.cross_entropy(sim, target)


class GraphContrastiveTask:
    r"""Self-supervised pre-training on a list of graphs, GraphCL style (You et al., NeurIPS
    2020): two random views of every graph (node and edge dropping), embedded by the model
    (``model(batch) -> [B, d]``), pulled together against the batch's other graphs.

    ``valid`` is the same loss on held-out graphs with views drawn from a fixed generator, so
    that model selection compares like with like.

    Args:
        graphs (Sequence[Data]): graphs with features ``x``.
        splits (dict): ``{"train": idx, "valid": idx}``.
        batch_size (int, optional): (default: ``128``)
        node_p, edge_p (float, optional): drop probabilities. (default: ``0.2``, ``0.2``)
        temperature (float, optional): (default: ``0.2``)
        seed (int, optional): seed of the views. (default: ``0``)
    """

    def __init__(self, graphs: Sequence[Data], splits: dict[str, Tensor], *,
                 batch_size: int = 128, node_p: float = 0.2, edge_p: float = 0.2,
                 temperature: float = 0.2, seed: int = 0) -> None:
        from torch_geometric.loader import DataLoader

        for name, p in (("node_p", node_p), ("edge_p", edge_p)):
            if not 0 <= p < 1:
                raise ValueError(f"GraphContrastiveTask: {name} must lie in [0, 1), got {p}")
        self._loader_cls = DataLoader
        self.graphs = list(graphs)
        self.splits = splits
        self.batch_size = int(batch_size)
        self.node_p, self.edge_p, self.temperature = node_p, edge_p, temperature
        self.generator = torch.Generator().manual_seed(int(seed))
        self.seed = int(seed)
        self.num_train_examples = int(splits["train"].numel())

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def _loss(self, model: Any, batch: Any, gen: torch.Generator) -> Tensor:
        v1 = drop_view(batch, self.node_p, self.edge_p, gen)
        v2 = drop_view(batch, self.node_p, self.edge_p, gen)
        return nt_xent(model(v1), model(v2), self.temperature)

    def train_batches(self, strategy: Any) -> Iterator[Any]:
        from torch_geometric.data import Batch

        graphs = [self.graphs[i] for i in self.splits["train"].tolist()]
        order = torch.randperm(len(graphs), generator=self.generator).tolist()
        for i in range(0, len(order), self.batch_size):
            chunk = [graphs[j] for j in order[i:i + self.batch_size]]
            if len(chunk) > 1:  # a single graph has no negatives
                yield Batch.from_data_list(chunk)

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        return self._loss(strategy.model, batch, self.generator)

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in self.splits:
            raise ValueError(f"GraphContrastiveTask evaluates {sorted(self.splits)}, "
                             f"got {split!r}")
        gen = torch.Generator().manual_seed(self.seed + 1)
        graphs = [self.graphs[i] for i in self.splits[split].tolist()]
        total, count = 0.0, 0
        for batch in self._loader_cls(graphs, self.batch_size, generator=torch.Generator()):
            if batch.num_graphs > 1:
                total += float(self._loss(strategy.model, batch, gen)) * batch.num_graphs
                count += batch.num_graphs
        return {"loss": total / max(count, 1)}


class ImageClassificationTask:
    r"""Mini-batch image classification over tensors (MNIST-sized data in memory).

    The model is called as ``model(images [B, C, H, W]) -> logits``; the loss is
    cross-entropy. Batches are drawn by a generator of the task's own (checkpointed), so that
    a resumed run sees the same batches. Metrics: ``acc``.

    Args:
        images (Tensor): ``[N, C, H, W]`` float images.
        labels (Tensor): ``[N]`` classes.
        splits (dict): ``{"train": idx, "valid": idx, "test": idx}``.
        batch_size (int, optional): (default: ``128``)
        eval_batch_size (int, optional): (default: ``1000``)
        seed (int, optional): seed of the batch order. (default: ``0``)
    """

    def __init__(self, images: Tensor, labels: Tensor, splits: dict[str, Tensor], *,
                 batch_size: int = 128, eval_batch_size: int = 1000, seed: int = 0) -> None:
        if images.dim() != 4 or images.size(0) != labels.numel():
            raise ValueError(f"ImageClassificationTask: images [N, C, H, W] and labels [N] "
                             f"expected, got {tuple(images.shape)} and {tuple(labels.shape)}")
        self.images, self.labels = images, labels.long()
        self.splits = splits
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.num_train_examples = int(splits["train"].numel())

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def train_batches(self, strategy: Any) -> Iterator[Tensor]:
        idx = self.splits["train"]
        order = idx[torch.randperm(idx.numel(), generator=self.generator)]
        yield from order.split(self.batch_size)

    def training_loss(self, strategy: Any, batch: Tensor) -> Tensor:
        return F.cross_entropy(strategy.model(self.images[batch]), self.labels[batch])

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in self.splits:
            raise ValueError(f"ImageClassificationTask evaluates {sorted(self.splits)}, "
                             f"got {split!r}")
        correct = 0
        idx = self.splits[split]
        for chunk in idx.split(self.eval_batch_size):
            correct += int((strategy.model(self.images[chunk]).argmax(1)
                            == self.labels[chunk]).sum())
        return {"acc": correct / max(idx.numel(), 1)}
