r"""A plain GNN classifier (GCN / GraphSAGE / GAT / GIN) for node or graph classification.

On one graph with labels ``y`` it classifies nodes (the graph's ``train_mask``/``val_mask``/
``test_mask`` when it has them, as Planetoid's public split, else a seeded random
``train_ratio``/``val_ratio`` split); on a collection of graphs (TU) it classifies graphs (a
seeded random split per seed, mean readout). ``features=degree`` replaces the inputs by the
one-hot degree (structural inputs shared across datasets) and ``init=PATH`` starts from an
encoder pre-trained by ``graphcl run pretrain``. Config: ``models/gnn.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from graphcl.data.collection import with_degree_features
from graphcl.methods import ConfigError, DatasetKindError, Method, Setup, register
from graphcl.methods.pretrain import load_encoder
from graphcl.models.gnn import GNNClassifier
from graphcl.train.tasks import GraphClassificationTask, NodeClassificationTask


def _random_masks(n: int, train: float, val: float, seed: int) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    a, b = int(round(train * n)), int(round((train + val) * n))
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:a]], masks[1][perm[a:b]], masks[2][perm[b:]] = True, True, True
    return masks


@register
class GNNMethod(Method):
    name = "gnn"
    description = "GNN classifier (conv=gcn|sage|gat|gin) for node or graph classification"
    task = "node / graph classification"
    kinds = ("graph", "graphs")
    defaults = {"conv": "gcn", "hidden": 64, "num_layers": 2, "dropout": 0.5, "heads": 8,
                "pool": "mean", "lr": 0.01, "weight_decay": 5e-4, "epochs": 200,
                "patience": 50, "batch_size": 64, "split": "auto", "train_ratio": 0.6,
                "val_ratio": 0.2, "monitor": "valid_acc", "features": "given",
                "degree_cap": 16, "init": None, "test_every_epoch": True}
    quickstart = [
        {"dataset": "synthetic:sbm", "set": {"epochs": 50}, "metric": "test_acc"},
        {"dataset": "synthetic:sbm", "set": {"epochs": 50}, "metric": "avg_acc",
         "stream": "class-incremental:3", "plugins": ["replay:mem_size=100"],
         "label": "gnn+replay", "task": "continual node classification (class-incremental)"},
    ]
    examples = ("graphcl run gnn --dataset cora --seeds 10",
                "graphcl run gnn --dataset mutag --set conv=gin hidden=32",
                "graphcl run gnn --dataset planetoid:/data/CiteSeer/raw --set conv=gat")

    def check_dataset(self, dataset: Any, name: str) -> None:
        super().check_dataset(dataset, name)
        graphs = dataset if isinstance(dataset, list) else [dataset]
        if any(getattr(g, "y", None) is None for g in graphs):
            raise DatasetKindError(f"method 'gnn' needs labels y; dataset {name!r} has none")

    def adjust(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if cfg["features"] not in ("given", "degree"):
            raise ConfigError(f"gnn: features must be 'given' or 'degree', got "
                              f"{cfg['features']!r}")
        return cfg

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        if cfg["features"] == "degree":  # structural inputs, shared across datasets
            graphs = with_degree_features(dataset if isinstance(dataset, list) else [dataset],
                                          int(cfg["degree_cap"]))
            dataset = graphs if isinstance(dataset, list) else graphs[0]
        setup = self._build(dataset, cfg, seed)
        if cfg["init"]:
            load_encoder(setup.model, cfg["init"], cfg)
        return setup

    def _build(self, dataset: Any, cfg: dict[str, Any], seed: int) -> Setup:
        engine = {"max_epochs": int(cfg["epochs"]), "patience": cfg["patience"],
                  "monitor": cfg["monitor"]}
        if not cfg["test_every_epoch"]:  # the test split once, on the best epoch's model
            engine.update(eval_splits=("valid",), final_splits=("test",))
        if isinstance(dataset, list):
            return self._graphs(dataset, cfg, seed, engine)
        data = dataset
        x = data.x if data.x is not None else torch.ones(data.num_nodes, 1)
        has_masks = all(getattr(data, k, None) is not None
                        for k in ("train_mask", "val_mask", "test_mask"))
        if cfg["split"] == "random" or (cfg["split"] == "auto" and not has_masks):
            masks = _random_masks(data.num_nodes, cfg["train_ratio"], cfg["val_ratio"], seed)
        elif has_masks:
            masks = [data.train_mask, data.val_mask, data.test_mask]
        else:
            raise ValueError("split='public' needs train_mask/val_mask/test_mask on the graph")
        node_data = Data(x=x.float(), edge_index=data.edge_index, y=data.y.view(-1),
                         train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])
        model = GNNClassifier(x.size(1), cfg["hidden"], int(data.y.max()) + 1,
                              cfg["num_layers"], cfg["conv"], cfg["dropout"], cfg["heads"])
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        return Setup(model, opt, NodeClassificationTask(node_data), engine)

    def _graphs(self, graphs: list[Data], cfg: dict[str, Any], seed: int,
                engine: dict[str, Any]) -> Setup:
        if graphs[0].x is None:  # featureless (IMDB): a constant input
            graphs = [Data(x=torch.ones(g.num_nodes, 1), edge_index=g.edge_index, y=g.y,
                           num_nodes=g.num_nodes) for g in graphs]
        n = len(graphs)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
        a = int(round(cfg["train_ratio"] * n))
        b = int(round((cfg["train_ratio"] + cfg["val_ratio"]) * n))
        splits = {"train": perm[:a], "valid": perm[a:b], "test": perm[b:]}
        classes = int(max(int(g.y.max()) for g in graphs)) + 1
        model = GNNClassifier(graphs[0].x.size(1), cfg["hidden"], classes, cfg["num_layers"],
                              cfg["conv"], cfg["dropout"], cfg["heads"], pool=cfg["pool"])
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        task = GraphClassificationTask(graphs, splits, batch_size=int(cfg["batch_size"]))
        return Setup(model, opt, task, engine)
