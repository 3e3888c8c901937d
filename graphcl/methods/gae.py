r"""The GCN auto-encoder link predictor (Kipf & Welling, 2016): the quickstart's baseline.

``graphcl run gae`` splits a graph (``protocol``: ``random`` 85/5/10, ``ncnc`` the NCNC
Planetoid 70/10/20, or ``official`` for OGB datasets), trains the GCN encoder and its
Hadamard-MLP (or dot) decoder on 1:1 uniform training negatives
(:class:`~graphcl.train.tasks.StaticLinkTask`) and reports Hits@K and AUC at the best
``monitor`` epoch. Config: ``models/gae.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from graphcl.methods import Method, Setup, register
from graphcl.models.gae import GAE
from graphcl.train.tasks import StaticLinkTask, link_split_for


@register
class GAEMethod(Method):
    name = "gae"
    description = "GCN auto-encoder link predictor (Hadamard-MLP decoder)"
    task = "link prediction"
    kinds = ("graph", "link")
    defaults = {"hidden": 64, "num_layers": 2, "dropout": 0.0, "decoder": "hadamard",
                "lr": 0.01, "epochs": 100, "batch_size": 65536,
                "metrics": ["hits@20", "hits@50", "hits@100", "auc"], "monitor": "valid_auc",
                "patience": None, "eval_every": 1, "protocol": "random", "val_ratio": 0.05,
                "test_ratio": 0.10}
    quickstart = {"dataset": "synthetic:sbm", "set": {}, "metric": "test_hits@100"}
    examples = ("graphcl run gae --dataset cora --seeds 10 --out results/gae-cora.json",
                "graphcl run gae --dataset planetoid:/data/CiteSeer/raw --set hidden=128")

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        data, split = link_split_for(dataset, seed, cfg)
        x = data.x if data.x is not None else torch.eye(split.num_nodes)
        data = Data(x=x.float(), num_nodes=split.num_nodes)
        model = GAE(x.size(1), cfg["hidden"], num_layers=cfg["num_layers"],
                    dropout=cfg["dropout"], decoder=cfg["decoder"])
        task = StaticLinkTask(data, split, batch_size=cfg["batch_size"], metrics=cfg["metrics"])
        engine = {"max_epochs": int(cfg["epochs"]), "eval_every": int(cfg["eval_every"]),
                  "monitor": cfg["monitor"], "patience": cfg["patience"]}
        return Setup(model, torch.optim.Adam(model.parameters(), lr=cfg["lr"]), task, engine)
