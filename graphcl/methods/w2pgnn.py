r"""W2PGNN: feasibility of pre-training, from graphons (Cao et al., KDD 2023).

For a downstream dataset and each candidate pre-training set: graphon bases from the
candidate's graphs (one for all, one per domain, or one per KMeans cluster of the graphs'
topology statistics), the downstream graphon, and feasibility = minus the smallest
Gromov–Wasserstein distance from the downstream graphon to a convex combination of the bases,
the mixing weights fitted with Adam through the Engine (:mod:`graphcl.train.graphon`).

A graph collection (TU) is used as it is; a single graph becomes ego-networks (2-hop,
at most ``max_nodes`` nodes): ``ego_samples`` sampled centres for a candidate, every node for
the downstream graph. A candidate is a dataset spec (card name or ``FORMAT:PATH``); ``a+b``
pools several datasets into one candidate whose domains (``variant=domain``) are its parts.
Config: ``models/w2pgnn.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.data.collection import GraphBatch, as_collection
from graphcl.methods import ConfigError, Method, Setup, dataset_kind, register

VARIANTS = ("topo", "domain", "integr")
_LEVEL_FORMATS = {"graphs": ("tu",), "graph": ("planetoid", "npz")}


def _present(card: Any) -> bool:
    from graphcl.data.registry import data_root

    folder = data_root() / card.folder
    return folder.is_dir() and all((folder / f.path).is_file() for f in card.files)


def default_candidates(kind: str) -> list[str]:
    r"""Every dataset card of the same level (``"graphs"``: graph collections; ``"graph"``:
    single attributed graphs) whose files are present under the data root."""
    from graphcl.data import list_cards

    return [c.name for c in list_cards() if c.format in _LEVEL_FORMATS[kind] and _present(c)]


@register
class W2PGNNMethod(Method):
    name = "w2pgnn"
    description = "W2PGNN feasibility of pre-training sets for a downstream dataset (graphons + GW)"
    task = "pre-training feasibility"
    kinds = ("graphs", "graph")
    defaults = {"pretrain": None, "variant": "topo", "estimator": "sas", "tv_weight": 0.1,
                "usvt_threshold": 2.02, "clusters": 5, "resolution": 100,
                "eval_resolution": 1000, "loss": "kl", "lr": 0.05, "betas": [0.9, 0.99],
                "weight_decay": 1e-5, "epochs": 100, "patience": 10, "hops": 2,
                "max_nodes": 1000, "ego_samples": 1000, "downstream_egos": None}
    quickstart = {"dataset": "synthetic:graphs",
                  "set": {"pretrain": ["graphon:sbm2+graphon:er", "graphon:smooth"],
                          "variant": "domain", "resolution": 30, "eval_resolution": 60,
                          "epochs": 30},
                  "metric": "test_feasibility:graphon:sbm2+graphon:er"}
    examples = ("graphcl run w2pgnn --dataset mutag",
                "graphcl run w2pgnn --dataset proteins --set 'pretrain=[nci1, mutag+ptc_mr]' "
                "variant=domain",
                "graphcl run w2pgnn --dataset cora --set 'pretrain=[citeseer, cora-ml]'")

    def configure(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from graphcl.nn.graphon import ESTIMATORS

        cfg = super().configure(*args, **kwargs)

        if cfg["variant"] not in VARIANTS:
            raise ConfigError(f"w2pgnn: variant must be one of {list(VARIANTS)}, "
                              f"got {cfg['variant']!r}")
        if cfg["estimator"] not in ESTIMATORS:
            raise ConfigError(f"w2pgnn: unknown graphon estimator {cfg['estimator']!r}; "
                              f"choose from {list(ESTIMATORS)}")
        if cfg["loss"] not in ("kl", "square"):
            raise ConfigError(f"w2pgnn: loss must be 'kl' or 'square', got {cfg['loss']!r}")
        for key in ("clusters", "resolution", "eval_resolution", "hops"):
            if int(cfg[key]) < 1:
                raise ConfigError(f"w2pgnn: {key} must be >= 1, got {cfg[key]!r}")
        return cfg

    def _candidates(self, cfg: dict[str, Any], dataset: Any) -> list[str]:
        specs = cfg["pretrain"]
        if specs is None:  # every other collection of the same level under the data root
            from graphcl.data import resolve_dataset
            from graphcl.data.fingerprint import fingerprint

            own = fingerprint(dataset)
            specs = [name for name in default_candidates(dataset_kind(dataset))
                     if fingerprint(resolve_dataset(name)[1]) != own]
        if isinstance(specs, str):
            specs = [specs]
        specs = [str(s) for s in specs]
        if not specs:
            raise ConfigError("w2pgnn: the list of candidate pre-training sets is empty "
                              "(set pretrain=[...] or add graph collections under the data root)")
        return specs

    def _bases(self, spec: str, cfg: dict[str, Any], seed: int) -> list[torch.Tensor]:
        from graphcl.data import resolve_dataset
        from graphcl.nn.graphon import estimate_graphon, topology_statistics

        parts = [p for p in spec.split("+") if p]
        batches = []
        for part in parts:
            if part.startswith("graphon:"):  # a synthetic collection from a named graphon
                from graphcl.data.synthetic import graphon_graphs

                pname, obj = part, graphon_graphs(part.split(":", 1)[1], 200, (12, 30),
                                                  seed=seed)
            else:
                pname, obj = resolve_dataset(part)
            batches.append(as_collection(obj, pname, seed=seed, sample=cfg["ego_samples"],
                                      hops=int(cfg["hops"]), max_nodes=cfg["max_nodes"]))
        est = {"method": cfg["estimator"], "tv_weight": cfg["tv_weight"],
               "usvt_threshold": float(cfg["usvt_threshold"])}
        if cfg["variant"] == "domain":
            return [estimate_graphon(b, **est) for b in batches]
        pooled = batches[0] if len(batches) == 1 else GraphBatch.concat(batches, spec)
        if cfg["variant"] == "integr":
            return [estimate_graphon(pooled, **est)]
        from sklearn.cluster import KMeans

        stats = topology_statistics(pooled).numpy()
        std = stats.std(0)
        z = (stats - stats.mean(0)) / (std + (std == 0))   # standardised (released code: raw)
        k = min(int(cfg["clusters"]), len({tuple(r) for r in z.round(12).tolist()}))
        if k < 2:
            return [estimate_graphon(pooled, **est)]
        labels = KMeans(n_clusters=k, n_init=10, random_state=int(seed)).fit_predict(z)
        out = []
        for c in range(k):
            ids = torch.from_numpy((labels == c).nonzero()[0])
            sub = pooled.subset(ids)
            if sub.edge_index.numel() == 0:
                continue  # a cluster of edgeless graphs carries no structure
            out.append(estimate_graphon(sub, **est))
        return out

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        from graphcl.models.w2pgnn import GraphonMixtures
        from graphcl.nn.graphon import estimate_graphon, resize
        from graphcl.train.graphon import MixtureFitTask

        down = as_collection(dataset, "downstream", seed=seed, sample=cfg["downstream_egos"],
                             hops=int(cfg["hops"]), max_nodes=cfg["max_nodes"])
        specs = self._candidates(cfg, dataset)
        target = estimate_graphon(down, cfg["estimator"], tv_weight=cfg["tv_weight"],
                                  usvt_threshold=float(cfg["usvt_threshold"]))
        steps = [self._bases(s, cfg, seed) for s in specs]
        r = int(cfg["resolution"])
        model = GraphonMixtures([torch.stack([resize(b, r) for b in bs]) for bs in steps])
        task = MixtureFitTask(specs, steps, target, resize(target, r),
                              int(cfg["eval_resolution"]), loss=cfg["loss"])
        fitted = any(len(bs) > 1 for bs in steps)
        opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]),
                               betas=tuple(float(b) for b in cfg["betas"]),
                               weight_decay=float(cfg["weight_decay"]))
        engine = {"max_epochs": int(cfg["epochs"]) if fitted else 0,
                  "patience": cfg["patience"], "monitor": "valid_gw", "mode": "min",
                  "eval_splits": ("valid",), "final_splits": ("test",)}
        return Setup(model, opt, task, engine,
                     stats=lambda engine: {**task.alphas(engine.model),
                                           **{f"bases:{s}": float(len(b))
                                              for s, b in zip(specs, steps, strict=True)}})

