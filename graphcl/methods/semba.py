r"""SEMBA: continuous-time dynamic signed networks (Sharma et al., CIKM 2023), four tasks.

``graphcl run semba --set task=sign`` (``link``, ``sign``, ``signed_link``, ``weight``) trains
:class:`~graphcl.models.semba.SEMBA` (positive and negative memories updated by
balance-theory messages, balanced propagation) with a :class:`~graphcl.models.semba.SignedHead`
under :class:`~graphcl.train.signed.SignedTemporalTask`: chronological 70/15/15 split, a batch
embedded from the state as of its start (leak-free), state reset every epoch, model selection
on the validation metric, test from the best epoch's end-of-validation state, transductive and
inductive test subsets. Baselines on the same pipeline, head and loss: ``model=tgn``, our TGN
with the sign and weight as its message features and the same state width (one memory of
``2 * memory_dim``); ``model=sgcn``, a static PyG ``SignedGCN`` over the training period's
signed graph (:class:`~graphcl.models.sgcn.StaticSignedGCN`, ``embedding_dim`` wide,
``sgcn_layers`` deep). Config: ``models/semba.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.methods import ConfigError, Method, Setup, register
from graphcl.models.semba import SEMBA, SignedHead
from graphcl.models.sgcn import StaticSignedGCN
from graphcl.models.tgn import TGN
from graphcl.train.signed import SIGNED_TASKS, SignedTemporalTask, prepare_signed, signed_monitor


@register
class SEMBAMethod(Method):
    name = "semba"
    description = ("SEMBA: signed temporal networks (link, sign, signed_link, weight; "
                   "model=tgn|sgcn baselines)")
    task = "signed temporal link prediction"
    kinds = ("temporal",)
    defaults = {
        "task": "sign", "model": "semba", "memory_dim": 64, "time_dim": 32,
        "embedding_dim": 64, "num_neighbors": 20, "heads": 8, "dropout": 0.5, "balance": True,
        "propagation": True, "head": "mlp", "time_init": "tgat", "lr": 0.01,
        "batch_size": 1000, "eval_batch_size": 1000, "epochs": 20, "patience": 5,
        "val_ratio": 0.15, "test_ratio": 0.15, "neutral": "drop", "sgcn_layers": 2,
    }
    quickstart = {"dataset": "synthetic:signed", "set": {"epochs": 3, "batch_size": 200},
                  "metric": "test_auc"}
    examples = ("graphcl run semba --dataset bitcoin-otc --seeds 5 --out results/semba-otc.json",
                "graphcl run semba --dataset bitcoin-otc --set task=weight model=tgn")

    def configure(self, file_config: Any, dataset_names: Any = (), overrides: Any = None):
        cfg = super().configure(file_config, dataset_names, overrides)
        if cfg["task"] not in SIGNED_TASKS:
            raise ConfigError(f"method 'semba': task must be one of {list(SIGNED_TASKS)}, "
                              f"got {cfg['task']!r}")
        if cfg["model"] not in ("semba", "tgn", "sgcn"):
            raise ConfigError(f"method 'semba': model must be 'semba', 'tgn' or 'sgcn', got "
                              f"{cfg['model']!r}")
        if cfg["neutral"] not in ("drop", "error"):
            raise ConfigError(f"method 'semba': neutral must be 'drop' or 'error', got "
                              f"{cfg['neutral']!r}")
        return cfg

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        data, w_max = prepare_signed(dataset, cfg["task"], neutral=cfg["neutral"])
        task = SignedTemporalTask(data, cfg["task"], w_max, batch_size=int(cfg["batch_size"]),
                                  eval_batch_size=int(cfg["eval_batch_size"]), seed=seed,
                                  val_ratio=cfg["val_ratio"], test_ratio=cfg["test_ratio"])
        n = int(data.num_nodes)
        if cfg["model"] == "semba":
            state: torch.nn.Module = SEMBA(
                n, cfg["memory_dim"], cfg["time_dim"], cfg["embedding_dim"],
                num_neighbors=cfg["num_neighbors"], heads=cfg["heads"], dropout=cfg["dropout"],
                balance=bool(cfg["balance"]), propagation=bool(cfg["propagation"]),
                time_init=cfg["time_init"])
            width = state.out_channels
        elif cfg["model"] == "sgcn":
            tr = task.streams["train"]
            state = StaticSignedGCN(n, tr.src, tr.dst, tr.sign, in_channels=cfg["embedding_dim"],
                                    hidden_channels=cfg["embedding_dim"],
                                    num_layers=int(cfg["sgcn_layers"]), seed=seed)
            width = state.out_channels
        else:
            emb = "attention" if cfg["propagation"] else "identity"
            state = TGN(n, 2, memory_dim=2 * cfg["memory_dim"], time_dim=cfg["time_dim"],
                        embedding_dim=cfg["embedding_dim"], embedding=emb,
                        num_neighbors=cfg["num_neighbors"], heads=cfg["heads"],
                        dropout=cfg["dropout"], time_init=cfg["time_init"])
            width = state.out_channels
        model = torch.nn.ModuleDict({cfg["model"]: state,
                                     "head": SignedHead(width, cfg["task"], cfg["head"])})
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], fused=True)
        monitor, mode = signed_monitor(cfg["task"])
        engine = {"max_epochs": int(cfg["epochs"]), "patience": int(cfg["patience"]),
                  "monitor": monitor, "mode": mode, "eval_splits": ("valid",),
                  "final_splits": ("test",)}
        return Setup(model, optimizer, task, engine)
