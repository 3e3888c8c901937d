r"""Self-supervised pre-training of a GNN encoder (GraphCL: You et al., "Graph Contrastive
Learning with Augmentations", NeurIPS 2020), on a graph collection or on the ego-networks of
a single graph (as GCC pre-trains on subgraphs).

Inputs are structural (the one-hot degree, ``degree_cap``), so that the encoder transfers to
any downstream collection; ``graphcl run gnn --set features=degree init=ENCODER.pt`` fine-tunes
it. The encoder (the classifier's message-passing part, with its shape) is saved after training
to ``save`` (default: ``encoder-seed<k>.pt`` beside the results file). This is the
pre-training arm of W2PGNN's validation (``experiments/tu/w2pgnn.py``).
Config: ``models/pretrain.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.data.collection import as_collection, to_graph_list, with_degree_features
from graphcl.methods import Method, Setup, register
from graphcl.models.gnn import GNNClassifier
from graphcl.train.tasks import GraphContrastiveTask

ENCODER_KEYS = ("conv", "hidden", "num_layers", "degree_cap")


def encoder_path(cfg: dict[str, Any], seed: int, out_dir: Path | None) -> Path | None:
    if cfg["save"]:
        return Path(str(cfg["save"]).replace("{seed}", str(seed)))
    return None if out_dir is None else out_dir / f"encoder-seed{seed}.pt"


@register
class PretrainMethod(Method):
    name = "pretrain"
    description = "GraphCL contrastive pre-training of a GNN encoder on graphs or ego-networks"
    task = "self-supervised pre-training"
    kinds = ("graphs", "graph")
    defaults = {"conv": "gin", "hidden": 64, "num_layers": 4, "pool": "add", "dropout": 0.0,
                "degree_cap": 16, "lr": 0.001, "weight_decay": 0.0, "epochs": 20,
                "patience": 5, "batch_size": 128, "node_p": 0.2, "edge_p": 0.2,
                "temperature": 0.2, "val_ratio": 0.1, "ego_samples": 1000, "hops": 2,
                "max_nodes": 1000, "save": None}
    quickstart = {"dataset": "synthetic:graphs", "set": {"epochs": 3, "hidden": 32},
                  "metric": "valid_loss"}
    examples = ("graphcl run pretrain --dataset nci1 --set save=nci1-encoder.pt",
                "graphcl run gnn --dataset mutag --set features=degree init=nci1-encoder.pt")

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        if isinstance(dataset, list):
            graphs = dataset
        else:
            gb = as_collection(dataset, "graph", seed=seed, sample=cfg["ego_samples"],
                               hops=int(cfg["hops"]), max_nodes=cfg["max_nodes"])
            graphs = to_graph_list(gb)
        graphs = with_degree_features(graphs, int(cfg["degree_cap"]))
        n = len(graphs)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
        n_val = max(int(round(cfg["val_ratio"] * n)), 2)
        if n - n_val < 2:
            raise ValueError(f"pretrain: {n} graphs leave fewer than 2 for training")
        splits = {"train": perm[n_val:], "valid": perm[:n_val]}
        model = GNNClassifier(int(cfg["degree_cap"]) + 1, int(cfg["hidden"]), int(cfg["hidden"]),
                              int(cfg["num_layers"]), cfg["conv"], float(cfg["dropout"]),
                              pool=cfg["pool"])
        opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]),
                               weight_decay=float(cfg["weight_decay"]))
        task = GraphContrastiveTask(graphs, splits, batch_size=int(cfg["batch_size"]),
                                    node_p=float(cfg["node_p"]), edge_p=float(cfg["edge_p"]),
                                    temperature=float(cfg["temperature"]), seed=seed)
        engine = {"max_epochs": int(cfg["epochs"]), "patience": cfg["patience"],
                  "monitor": "valid_loss", "mode": "min", "eval_splits": ("valid",)}
        return Setup(model, opt, task, engine)

    def after_fit(self, setup: Setup, engine: Any, cfg: dict[str, Any], seed: int,
                  out_dir: Path | None) -> None:
        from graphcl.train.checkpoint import save_checkpoint

        path = encoder_path(cfg, seed, out_dir)
        if path is not None:
            save_checkpoint(path, {"encoder": {k: cfg[k] for k in ENCODER_KEYS},
                                   "state_dict": setup.model.gnn.state_dict()})


def load_encoder(model: GNNClassifier, path: str | Path, cfg: dict[str, Any]) -> None:
    r"""Loads an encoder saved by ``pretrain`` into ``model.gnn`` (``weights_only``).

    Raises:
        ValueError: a missing file, or an encoder of another shape (naming the keys)."""
    from graphcl.train.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"init: no encoder file at {path}")
    saved = load_checkpoint(path)
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise ValueError(f"init: {path} is not an encoder saved by 'graphcl run pretrain'")
    diff = [k for k in ENCODER_KEYS if saved["encoder"].get(k) != cfg.get(k)]
    if diff:
        raise ValueError(f"init: {path} holds an encoder with other "
                         + ", ".join(f"{k} ({saved['encoder'].get(k)} vs {cfg.get(k)})"
                                     for k in diff))
    model.gnn.load_state_dict(saved["state_dict"])
