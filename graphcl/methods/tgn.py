r"""Memory-based temporal GNNs (TGN, JODIE, APAN; ``preset``) and PRES large-batch training.

``graphcl run tgn`` trains the family member of ``preset`` under TGN's protocol
(:class:`~graphcl.train.temporal.TemporalLinkTask`: chronological 70/15/15 split with new
nodes, early stopping on validation AP, test from the best epoch's end-of-validation memory);
``graphcl run pres`` the same model with the PRES scheme (Su, Zou & Wu, ICLR 2024:
prediction-correction of the memory and a coherence term; its keys under ``pres:``).
Configs: ``models/tgn.yaml`` and ``models/pres.yaml`` (per-dataset sections).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from graphcl.methods import ConfigError, Method, Setup, register
from graphcl.models.tgn import TGN
from graphcl.train.pres import PRES
from graphcl.train.temporal import link_protocol

MODEL_KEYS = ("memory_dim", "time_dim", "embedding_dim", "num_neighbors", "heads", "dropout",
              "message", "time_init", "embedding", "aggregator", "updater", "query_time",
              "neighbor_grad", "batch_neighbors")


class _Temporal(Method):
    task = "temporal link prediction"
    kinds = ("temporal",)
    section_keys = ("pres",)
    defaults = {
        "preset": "tgn", "memory_dim": 100, "time_dim": 100, "embedding_dim": 100,
        "num_neighbors": 10, "heads": 2, "dropout": 0.1, "message": "identity",
        "time_init": "tgat", "embedding": None, "aggregator": None, "updater": None,
        "query_time": None, "neighbor_grad": None, "batch_neighbors": None,
        "lr": 1e-4, "batch_size": 200, "eval_batch_size": 200, "epochs": 50, "patience": 5,
        "mrr_num_neg": 100, "mrr_strategy": "hist_rnd", "mrr_seed": 7, "val_ratio": 0.15,
        "test_ratio": 0.15, "new_node_ratio": 0.1, "split_seed": 2020, "time_scale": None,
        "max_train_events": None, "pres": None,
    }
    quickstart = {"dataset": "synthetic:temporal-sbm",
                  "set": {"epochs": 2, "memory_dim": 32, "time_dim": 16, "embedding_dim": 32,
                          "mrr_num_neg": 10}, "metric": "test_ap"}
    use_pres = False

    def adjust(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if self.use_pres and not cfg.get("pres"):
            cfg["pres"] = {}
        if not self.use_pres:
            cfg["pres"] = None
        return cfg

    def configure(self, file_config: Any, dataset_names: Any = (), overrides: Any = None):
        cfg = super().configure(file_config, dataset_names, overrides)
        p = cfg.get("pres")
        if p is True:
            cfg["pres"] = p = {}
        if p:
            known = [k for k in inspect.signature(PRES.__init__).parameters
                     if k not in ("self", "num_nodes", "memory_dim")]
            bad = sorted(set(p) - set(known))
            if bad:
                raise ConfigError(f"method {self.name!r}: unknown pres key(s) {bad}; known: {known}")
            if p.get("scope") == "intra" and cfg.get("query_time") != "event":
                raise ConfigError("pres.scope=intra needs query_time=event: with 'first' each "
                                  "node is queried once, before all its batch events")
        return cfg

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        data = dataset
        task, scale, engine = link_protocol(data, cfg, seed)
        num_nodes = int(data.num_nodes)
        kwargs = {k: cfg[k] for k in MODEL_KEYS if cfg.get(k) is not None}
        parts: dict[str, torch.nn.Module] = {
            "tgn": TGN.from_preset(cfg["preset"], num_nodes, data.msg.size(1), time_scale=scale,
                                   **kwargs)}
        if cfg.get("pres") is not None:
            parts["pres"] = PRES(num_nodes, parts["tgn"].memory.memory_dim, **cfg["pres"])
        model = torch.nn.ModuleDict(parts)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=cfg["lr"], fused=True)
        return Setup(model, optimizer, task, engine, stats=_learnt_gamma)


def _learnt_gamma(engine: Any) -> dict[str, float]:
    scheme = engine.model["pres"] if "pres" in engine.model else None
    if scheme is not None and scheme.learnable_gamma:
        return {"pres_gamma": float(scheme.gamma.detach())}  # the best epoch's
    return {}


@register
class TGNMethod(_Temporal):
    name = "tgn"
    description = "memory-based temporal GNN (TGN; preset=jodie|apan for JODIE, APAN)"
    examples = ("graphcl run tgn --dataset collegemsg --seeds 5 --out results/tgn-uci.json",
                "graphcl run tgn --dataset wikipedia --set preset=jodie")


@register
class PRESMethod(_Temporal):
    name = "pres"
    description = "TGN trained with PRES at a large temporal batch (memory coherence + GMM)"
    use_pres = True
    examples = ("graphcl run pres --dataset collegemsg --set pres.gamma=0.5 pres.scope=intra",)
