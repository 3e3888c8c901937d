r"""Metanetwork pruning (Liu, Wang & Zhang, "Meta Pruning via Graph Metanetworks", arXiv
2506.12041) with its baselines at the same training budget, on MNIST-layout image data (CNNs)
or on one attributed graph (GCN node classifiers: the same machinery on GNNs).

1. A population of networks (the data models) is trained, each with its own seed: a
   ``ConvNet`` as ``graphcl run cnn`` trains it (``channels``, ``pool_every``, ``model_*``
   keys) or a GCN as ``graphcl run gnn`` (the ``gnn`` section); they are cached
   beside the results.
2. The metanetwork is meta-trained on ``population - val_models`` of them through the Engine
   (:class:`~graphcl.train.metaprune.MetaPruneTask`: accuracy + DepGraph group sparsity);
   the epoch kept is the one whose written validation networks, pruned to ``speedup[0]``
   without fine-tuning, are the most accurate.
3. A held-out data model (index ``population + seed``) is pruned to each ``speedup`` by three
   arms with ``before_epochs + after_epochs`` of training each: ``metanet`` (metanetwork pass,
   fine-tune, prune by group L2, fine-tune), ``magnitude`` (fine-tune, prune by L1, fine-tune)
   and ``depgraph`` (DepGraph sparse training, prune by group L2, fine-tune). Reported per arm
   and speed-up: test accuracy, the measured FLOPs speed-up and the CPU latency ratio. On a
   graph the ``graph`` section replaces the budgets (full-batch epochs) and the metanetwork's
   size; a GCN's channels are pruned on the network's graph, as Torch-Pruning does not trace
   message passing.

Config: ``models/metaprune.yaml``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from graphcl.methods import DatasetKindError, Method, Setup, register
from graphcl.methods.cnn import _KEYS, CNNMethod
from graphcl.train.metaprune import ImageData, MetaPruneTask, NodeData

ARMS = ("metanet", "magnitude", "depgraph")
_IMAGE_KEYS = ("channels", "pool_every", "val_size", "max_train")


def effective_config(cfg: dict[str, Any], images: bool) -> dict[str, Any]:
    r"""``cfg`` as it applies to the data: on a graph the ``graph`` section's keys replace
    the top-level ones."""
    return cfg if images else {**cfg, **cfg["graph"]}


def _model_config(cfg: dict[str, Any], images: bool) -> dict[str, Any]:
    if images:
        return {**CNNMethod.defaults, **{k: cfg[k] for k in _IMAGE_KEYS},
                "lr": float(cfg["model_lr"]), "epochs": int(cfg["model_epochs"]),
                "patience": None, "batch_size": int(cfg["model_batch_size"])}
    from graphcl.methods.gnn import GNNMethod

    return {**GNNMethod.defaults, **cfg["gnn"], "lr": float(cfg["model_lr"]),
            "epochs": int(cfg["model_epochs"]), "patience": None}


def data_model(dataset: Any, cfg: dict[str, Any], index: int, cache: Path | None
               ) -> tuple[torch.nn.Module, Any]:
    r"""Data model ``index`` (trained with seed ``index``; loaded from ``cache`` when saved
    there by an earlier run of the same model config) and its task: a ``cnn`` on an image
    set, a ``gnn`` node classifier on a graph."""
    from graphcl.methods.gnn import GNNMethod
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    from graphcl.train.engine import Engine
    from graphcl.train.seed import seed_everything

    images = isinstance(dataset, dict)
    mcfg = _model_config(cfg, images)
    seed_everything(index)
    setup = (CNNMethod() if images else GNNMethod()).build(dataset, mcfg, index)
    key = hashlib.sha256(json.dumps(mcfg, sort_keys=True).encode()).hexdigest()[:12]
    kind = "convnet" if images else "gnn"
    path = None if cache is None else cache / f"{kind}_{key}_{index}.pt"
    if path is not None and path.is_file():
        setup.model.load_state_dict(load_checkpoint(path))
        return setup.model, setup.task
    fresh = setup.task.state_dict() if hasattr(setup.task, "state_dict") else None
    engine = Engine(setup.model, setup.optimizer, progress=False, **setup.engine)
    engine.fit(setup.task)
    if fresh is not None:  # the task is returned as a loaded model's would be
        setup.task.load_state_dict(fresh)
    if path is not None:
        save_checkpoint(path, setup.model.state_dict())
    return setup.model, setup.task


@register
class MetaPruneMethod(Method):
    name = "metaprune"
    description = ("metanetwork structured pruning of CNNs and GCNs "
                   "(vs magnitude and DepGraph sparse training)")
    task = "network pruning"
    kinds = ("other", "graph")
    defaults = {"channels": [16, 32, 64], "pool_every": 1, "model_epochs": 2, "model_lr": 0.01,
                "model_batch_size": 128, "val_size": 5000, "max_train": None,
                "population": 8, "val_models": 2,
                "hidden": 64, "num_layers": 8, "rho": 0.01, "lr": 1e-3, "weight_decay": 5e-4,
                "epochs": 5, "lr_milestones": [3], "steps_per_model": 10, "batch_size": 256,
                "reg": 0.001, "alpha": 16.0, "val_images": 2000,
                "speedup": [2.0], "finetune_lr": 1e-3, "before_epochs": 1, "after_epochs": 1,
                "sparsity_reg": 5e-4, "arms": list(ARMS), "metanet": None,
                # a graph's data models (``graphcl run gnn`` keys) ...
                "gnn": {"conv": "gcn", "hidden": 256, "num_layers": 2, "dropout": 0.5,
                        "weight_decay": 5e-4, "split": "auto"},
                # ... and the keys above that a graph dataset replaces (full-batch epochs; a
                # smaller metanetwork for a graph of ~(features x hidden) weight edges)
                "graph": {"model_epochs": 200, "model_lr": 0.01, "hidden": 8,
                          "num_layers": 2, "steps_per_model": 5, "finetune_lr": 0.01,
                          "before_epochs": 50, "after_epochs": 50}}
    section_keys = ("gnn", "graph")
    quickstart = {"dataset": "synthetic:images",
                  "set": {"channels": [8, 16], "model_epochs": 4, "population": 3,
                          "val_models": 1, "val_size": 100, "hidden": 16, "num_layers": 2,
                          "epochs": 3, "steps_per_model": 4, "batch_size": 64,
                          "val_images": 100, "speedup": [1.5], "before_epochs": 1,
                          "after_epochs": 1},
                  "metric": "test_acc:metanet@1.5"}
    examples = ("graphcl run metaprune --dataset mnist --seeds 3",
                "graphcl run metaprune --dataset cora --set speedup=[1.5,2,3]")

    def check_dataset(self, dataset: Any, name: str) -> None:
        from graphcl.methods import dataset_kind

        images = isinstance(dataset, dict) and all(k in dataset for k in _KEYS)
        if not images and dataset_kind(dataset) != "graph":
            raise DatasetKindError(f"method 'metaprune' needs an image set in MNIST's layout "
                                   f"({', '.join(_KEYS)}) or one attributed graph with node "
                                   f"labels; dataset {name!r} is neither")

    def after_fit(self, setup: Setup, engine: Any, cfg: dict[str, Any], seed: int,
                  out_dir: Path | None) -> None:
        r"""Saves the selected metanetwork beside the results (``metaprune_metanet_seed<S>.pt``:
        its size, the architecture it edits, its weights; ``metanet=PATH`` loads one)."""
        from graphcl.train.checkpoint import save_checkpoint

        if out_dir is None or cfg["metanet"]:
            return
        images = isinstance(setup.task.data, ImageData)
        full = effective_config(cfg, images)
        save_checkpoint(Path(out_dir) / f"metaprune_metanet_seed{seed}.pt",
                        {"config": {k: full[k] for k in _METANET_KEYS},
                         "architecture": _architecture(cfg, images),
                         "state_dict": setup.model.state_dict()})

    @staticmethod
    def _validate(cfg: dict[str, Any]) -> list[float]:
        speedups = cfg["speedup"] if isinstance(cfg["speedup"], list) else [cfg["speedup"]]
        if not speedups or any(not float(s) >= 1 for s in speedups):
            raise ValueError(f"metaprune: speedup targets must be >= 1, got {cfg['speedup']}")
        if not 0 < int(cfg["val_models"]) < int(cfg["population"]):
            raise ValueError(f"metaprune: val_models must lie in (0, population="
                             f"{cfg['population']}), got {cfg['val_models']}")
        bad = sorted(set(cfg["arms"]) - set(ARMS))
        if bad:
            raise ValueError(f"metaprune: unknown arms {bad}; choose from {list(ARMS)}")
        return [float(s) for s in speedups]

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        from graphcl.models.metanet import MetaNetwork
        from graphcl.nn.netgraph import NODE_DEFAULT
        from graphcl.train.plugins import MultiStepLR
        from graphcl.train.seed import seed_everything

        images = isinstance(dataset, dict)
        cfg = effective_config(cfg, images)
        speedups = self._validate(cfg)
        saved = load_metanet(cfg["metanet"], cfg, images) if cfg["metanet"] else None
        if saved is not None:  # a trained metanetwork: no population, no meta-training
            cfg = {**cfg, **saved["config"], "epochs": 0}
        cache = None if out_dir is None else Path(out_dir) / "metaprune_population"
        n, n_val = int(cfg["population"]), int(cfg["val_models"])
        models = [] if saved else [data_model(dataset, cfg, k, cache)[0] for k in range(n)]
        held_out, held_task = data_model(dataset, cfg, n + int(seed), cache)
        if saved:
            models, n_val = [held_out, held_out], 1
        data = ImageData(held_task, int(cfg["batch_size"])) if images else NodeData(held_task)
        seed_everything(seed)
        task = MetaPruneTask(models[0], models[: len(models) - n_val], models[len(models) - n_val:],
                             data,
                             reg=float(cfg["reg"]), alpha=float(cfg["alpha"]),
                             speedup=speedups[0], steps_per_model=int(cfg["steps_per_model"]),
                             val_limit=int(cfg["val_images"]) if images else None, seed=seed)
        k2 = task.graphs[0].edge_attr.size(1)
        metanet = MetaNetwork(len(NODE_DEFAULT), k2, int(cfg["hidden"]), int(cfg["num_layers"]),
                              float(cfg["rho"]))
        if saved is not None:
            metanet.load_state_dict(saved["state_dict"])
        opt = torch.optim.AdamW(metanet.parameters(), lr=float(cfg["lr"]),
                                weight_decay=float(cfg["weight_decay"]))
        def report(engine: Any, result: dict[str, Any]) -> dict[str, Any]:
            return {"metrics": prune_held_out(engine.model, task, held_out, data, cfg,
                                              speedups)}

        return Setup(metanet, opt, task,
                     {"max_epochs": int(cfg["epochs"]), "monitor": "valid_pruned_acc",
                      "eval_splits": ("valid",)},
                     plugins=[MultiStepLR(list(cfg["lr_milestones"]))], report=report)


_METANET_KEYS = ("hidden", "num_layers", "rho")


def _architecture(cfg: dict[str, Any], images: bool) -> dict[str, Any]:
    return ({"kind": "convnet", "channels": list(cfg["channels"]),
             "pool_every": int(cfg["pool_every"])} if images else
            {"kind": "gnn", "conv": cfg["gnn"]["conv"], "hidden": int(cfg["gnn"]["hidden"]),
             "num_layers": int(cfg["gnn"]["num_layers"])})


def load_metanet(path: str | Path, cfg: dict[str, Any], images: bool) -> dict[str, Any]:
    r"""A metanetwork saved by ``graphcl run metaprune`` (``weights_only``): ``{"config",
    "architecture", "state_dict"}``.

    Raises:
        ValueError: a missing file, or a metanetwork trained on another architecture."""
    from graphcl.train.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"metaprune: metanet {path} does not exist")
    saved = load_checkpoint(path)
    want = _architecture(cfg, images)
    if saved.get("architecture") != want:
        raise ValueError(f"metaprune: metanet {path} was trained on {saved.get('architecture')}"
                         f", not on {want}")
    return saved


def prune_held_out(metanet: torch.nn.Module, task: Any, held_out: torch.nn.Module, data: Any,
                   cfg: dict[str, Any], speedups: list[float]) -> dict[str, float]:
    r"""The pruning protocol of the module docstring on ``held_out``, for every arm."""
    from graphcl.lifelong.pruning import GroupSparsity
    from graphcl.nn.netgraph import network_to_graph
    from graphcl.train.metaprune import edit_network, latency, prune_and_finetune
    from graphcl.train.seed import seed_everything

    example = data.example()
    base_latency = latency(held_out, example)
    out = {"test_acc:base": data.accuracy(held_out, "test")}
    fresh = data.task.state_dict() if hasattr(data.task, "state_dict") else None
    for arm in cfg["arms"]:  # every arm from the same random state: one budget, one order
        seed_everything(0)
        if fresh is not None:
            data.task.load_state_dict(fresh)
        model = copy.deepcopy(held_out)
        if arm == "metanet":
            graph = network_to_graph(model, data.input_shape, data.concrete_args)
            model = edit_network(metanet, graph, task.template)
            out["test_acc:metanet_edited"] = data.accuracy(model, "test")
        sparse = [GroupSparsity(reg=float(cfg["sparsity_reg"]), alpha=float(cfg["alpha"]),
                                input_shape=list(data.input_shape))] if arm == "depgraph" else []
        runs = prune_and_finetune(
            model, data, speedups, before_plugins=sparse,
            before_epochs=int(cfg["before_epochs"]), after_epochs=int(cfg["after_epochs"]),
            lr=float(cfg["finetune_lr"]), importance="l1" if arm == "magnitude" else "l2")
        for s, run in zip(speedups, runs, strict=True):
            tag = f"{arm}@{s:g}"
            out[f"test_acc:{tag}"] = run["acc"]
            out[f"test_acc_no_finetune:{tag}"] = run["acc_pruned"]
            out[f"speedup:{tag}"] = run["speedup"]
            out[f"latency_ratio:{tag}"] = base_latency / latency(run["model"], example)
    return out
