r"""ForwardGNN: back-propagation-free, layer-local training of GNNs (Park et al., ICLR 2024).

``graphcl run forwardgnn --set task=node variant=sf`` trains a GCN / GraphSAGE / GAT stack
(``conv``) layer by layer, each layer on its own local objective and detached input
(:mod:`graphcl.train.forward`): ``variant`` = ``sf`` (single forward, the paper's main method),
``ff-la`` (forward-forward with label appending), ``ff-vn`` (forward-forward with class virtual
nodes) or ``bp`` (the same layers trained end to end, the baseline); ``task=link`` takes
``sf``/``ce`` (ForwardGNN-CE), ``ff`` (ForwardGNN-FF) or ``bp``. Greedy variants train one
engine experience per layer (early stopping per layer) and record the test metric with 1..L
layers (``test_acc_l1`` ...). Splits: the authors' protocol (64/16/20 node split ``seed mod
num_splits`` of a 5-fold split; link: 64/16/20 of the undirected edges with one fixed negative per
positive). Features are row-sum normalised (PyG's ``NormalizeFeatures``), as the authors load
every dataset. Config: ``models/forwardgnn.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.data.split import kfold_node_split, random_link_split, sample_train_negatives
from graphcl.methods import ConfigError, DatasetKindError, Method, Setup, register
from graphcl.models.forwardgnn import CONVS, ForwardGNN, LayerStack
from graphcl.train.forward import (
    BPLinkTask,
    BPNodeTask,
    LayerGradClip,
    LayerTask,
    LinkProblem,
    TopDownLink,
    TopDownNode,
    TopDownTask,
    make_problem,
)
from graphcl.train.plugins import TrainingMemory

NODE = ("sf", "ff-la", "ff-vn", "sf-top2input", "sf-top2loss", "bp")
LINK = {"sf": "ce", "ce": "ce", "ff": "ff", "ce-top2input": "ce-top2input", "bp": "bp"}


def normalize_features(x: torch.Tensor) -> torch.Tensor:
    r"""PyG's ``NormalizeFeatures``: each row divided by its sum (rows summing to 0 kept)."""
    x = x.float()
    return x / x.sum(-1, keepdim=True).clamp(min=1)


@register
class ForwardGNNMethod(Method):
    name = "forwardgnn"
    description = ("ForwardGNN: layer-local (back-propagation-free) GNN training; task=node|"
                   "link, variant=sf|ff-la|ff-vn|sf-top2input|sf-top2loss|bp (link: sf|ff|"
                   "ce-top2input|bp)")
    task = "node classification / link prediction without end-to-end back-propagation"
    kinds = ("graph",)
    defaults = {
        "task": "node", "variant": "sf", "conv": "gcn", "num_layers": 2, "hidden": 128,
        "heads": 4, "lr": 1e-3, "weight_decay": 5e-4, "epochs": 1000, "eval_every": 2,
        "patience": 100, "theta": 2.0, "temperature": 1.0, "num_negs": 100,
        "num_splits": 5, "val_ratio": 0.16, "test_ratio": 0.2, "normalize_features": True,
        "alternating": True, "test_steps": 10, "grad_clip": 1.0,
    }
    resumable = ("epochs", "patience")
    quickstart = {"dataset": "synthetic:sbm", "set": {"epochs": 60, "patience": 10},
                  "metric": "test_acc"}
    examples = ("graphcl run forwardgnn --dataset cora-ml --seeds 5 --set num_layers=4",
                "graphcl run forwardgnn --dataset cora-ml --set variant=bp num_layers=3",
                "graphcl run forwardgnn --dataset cora --set task=link variant=ff conv=sage")

    def configure(self, file_config: Any, dataset_names: Any = (), overrides: Any = None):
        cfg = super().configure(file_config, dataset_names, overrides)
        task, variant = cfg["task"], cfg["variant"]
        if task not in ("node", "link"):
            raise ConfigError(f"method 'forwardgnn': task must be 'node' or 'link', got {task!r}")
        allowed = NODE if task == "node" else tuple(LINK)
        if variant not in allowed:
            raise ConfigError(f"method 'forwardgnn': variant {variant!r} does not fit "
                              f"task={task!r}; choose from {list(allowed)}")
        if cfg["conv"] not in CONVS:
            raise ConfigError(f"method 'forwardgnn': conv must be one of {list(CONVS)}, got "
                              f"{cfg['conv']!r}")
        for key in ("num_layers", "hidden", "epochs", "eval_every", "num_splits", "heads"):
            if not isinstance(cfg[key], int) or cfg[key] < 1:
                raise ConfigError(f"method 'forwardgnn': {key} must be a positive integer, got "
                                  f"{cfg[key]!r}")
        if cfg["conv"] == "gat" and cfg["hidden"] % cfg["heads"]:
            raise ConfigError(f"method 'forwardgnn': hidden ({cfg['hidden']}) must be divisible "
                              f"by heads ({cfg['heads']}) for GAT")
        return cfg

    def check_dataset(self, dataset: Any, name: str) -> None:
        super().check_dataset(dataset, name)
        if getattr(dataset, "x", None) is None:
            raise DatasetKindError(f"method 'forwardgnn' needs node features x; dataset "
                                   f"{name!r} has none")

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        x = dataset.x.to_dense() if dataset.x.is_sparse else dataset.x
        x = normalize_features(x) if cfg["normalize_features"] else x.float()
        n, L = int(dataset.num_nodes), int(cfg["num_layers"])
        split = int(seed) % int(cfg["num_splits"])
        engine: dict[str, Any] = {"max_epochs": int(cfg["epochs"]), "patience": cfg["patience"],
                                  "checkpoint_every": max(1, min(50, int(cfg["epochs"]) // 20)),
                                  "eval_every": int(cfg["eval_every"]),
                                  "eval_splits": ("valid",), "final_splits": ("test",)}
        if cfg["task"] == "node":
            return self._node(dataset, x, cfg, seed, split, engine)
        return self._link(dataset, x, cfg, seed, split, engine, n, L)

    def _optimizer(self, model: torch.nn.Module, cfg: dict[str, Any]) -> torch.optim.Adam:
        # One Adam over every layer: with gradients set to None between steps it steps only
        # the layer that has them, exactly as the authors' one Adam per layer.
        return torch.optim.Adam(model.parameters(), lr=cfg["lr"],
                                weight_decay=cfg["weight_decay"])

    def _node(self, data: Any, x: torch.Tensor, cfg: dict[str, Any], seed: int, split: int,
              engine: dict[str, Any]) -> Setup:
        if getattr(data, "y", None) is None:
            raise DatasetKindError("method 'forwardgnn' with task=node needs labels y")
        y = data.y.view(-1).long()
        c = int(y.max()) + 1
        if c < 2:
            raise ValueError(f"forwardgnn: {c} class(es); node classification needs >= 2")
        masks = kfold_node_split(y.numel(), split, num_folds=int(cfg["num_splits"]))
        engine.update(monitor="valid_acc", mode="max")
        variant, L, h = cfg["variant"], int(cfg["num_layers"]), int(cfg["hidden"])
        if variant == "bp":
            stack = LayerStack(x.size(1), h, L, cfg["conv"], out_channels=c, final_act=False,
                               heads=cfg["heads"])
            model = ForwardGNN(stack)
            return Setup(model, self._optimizer(model, cfg),
                         BPNodeTask(x, data.edge_index, y, masks), engine,
                         plugins=[TrainingMemory()], stats=_memory_stats)
        if variant.startswith("sf-top2"):
            return self._top_down_node(data, x, y, c, masks, cfg, seed, engine)
        in_dim = x.size(1) + (c if variant == "ff-la" else 0)
        stack = LayerStack(in_dim, h, L, cfg["conv"], heads=cfg["heads"])
        model = ForwardGNN(stack, num_classes=c, in_features=x.size(1),
                           labels=y if variant != "sf" else None,
                           virtual=variant != "ff-la", seed=seed)
        problem = make_problem(variant, x, data.edge_index, y, masks, c,
                               temperature=cfg["temperature"], theta=cfg["theta"],
                               num_negs=cfg["num_negs"])
        stream = [LayerTask(problem, layer) for layer in range(L)]
        return Setup(model, self._optimizer(model, cfg), stream[0], engine, stream=stream,
                     plugins=[TrainingMemory()], report=_per_layer("acc"))

    def _top_down_node(self, data: Any, x: torch.Tensor, y: torch.Tensor, c: int,
                       masks: dict[str, torch.Tensor], cfg: dict[str, Any], seed: int,
                       engine: dict[str, Any]) -> Setup:
        L, h, f = int(cfg["num_layers"]), int(cfg["hidden"]), x.size(1)
        if cfg["variant"] == "sf-top2input":
            mode = "input"
            widths = [(f if i == 0 else h) + (h if i < L - 1 else c) for i in range(L)]
        else:
            mode, widths = "loss", None
        stack = LayerStack(f, h, L, cfg["conv"], heads=cfg["heads"], in_widths=widths)
        model = ForwardGNN(stack, num_classes=c, in_features=f, seed=seed)
        problem = TopDownNode(x, data.edge_index, y, masks, c, model.virtual_x, h,
                              temperature=cfg["temperature"])
        task = TopDownTask(problem, L, mode, alternating=cfg["alternating"],
                           test_steps=cfg["test_steps"],
                           stored_steps=tuple(range(2, cfg["test_steps"])))
        plugins: list[Any] = [TrainingMemory()]
        if mode == "loss" and cfg["grad_clip"]:
            plugins.append(LayerGradClip(cfg["grad_clip"]))
        return Setup(model, self._optimizer(model, cfg), task, engine, plugins=plugins,
                     stats=_memory_stats)

    def _link(self, data: Any, x: torch.Tensor, cfg: dict[str, Any], seed: int, split: int,
              engine: dict[str, Any], n: int, L: int) -> Setup:
        sp = random_link_split(data, cfg["val_ratio"], cfg["test_ratio"], seed=101 * split)
        g = torch.Generator().manual_seed(101 * split + 1)
        train_neg = sample_train_negatives(sp, sp.train_pos.size(1), generator=g)
        both = lambda e: torch.cat([e, e.flip(0)], 1)  # noqa: E731
        graphs = {"train": both(sp.train_pos), "valid": both(sp.train_pos),
                  "test": both(torch.cat([sp.train_pos, sp.valid_pos], 1))}

        def labelled(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.cat([pos, neg], 1),
                    torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]))

        pairs = {"train": labelled(sp.train_pos, train_neg),
                 "valid": labelled(sp.valid_pos, sp.valid_neg),
                 "test": labelled(sp.test_pos, sp.test_neg)}
        engine.update(monitor="valid_auc", mode="max")
        kind, h = LINK[cfg["variant"]], int(cfg["hidden"])
        if kind == "bp":
            model = ForwardGNN(LayerStack(x.size(1), h, L, cfg["conv"], final_act=False,
                                          heads=cfg["heads"]))
            return Setup(model, self._optimizer(model, cfg), BPLinkTask(x, graphs, pairs, n),
                         engine, plugins=[TrainingMemory()], stats=_memory_stats)
        if kind == "ce-top2input":  # the authors' Adam without weight decay
            widths = [(x.size(1) if i == 0 else h) + (h if i < L - 1 else 0) for i in range(L)]
            model = ForwardGNN(LayerStack(x.size(1), h, L, cfg["conv"], heads=cfg["heads"],
                                          in_widths=widths))
            task = TopDownTask(TopDownLink(x, graphs, pairs, n, h), L, "input",
                               alternating=cfg["alternating"], test_steps=cfg["test_steps"],
                               stored_steps=tuple(range(2, cfg["test_steps"])))
            opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
            return Setup(model, opt, task, engine, plugins=[TrainingMemory()],
                         stats=_memory_stats)
        model = ForwardGNN(LayerStack(x.size(1), h, L, cfg["conv"], heads=cfg["heads"]))
        problem = LinkProblem(x, graphs, pairs, n, kind, theta=cfg["theta"])
        stream = [LayerTask(problem, layer) for layer in range(L)]
        return Setup(model, self._optimizer(model, cfg), stream[0], engine, stream=stream,
                     plugins=[TrainingMemory()], report=_per_layer("auc"))


_MEMORY_KEYS = ("train_memory_mib", "train_activation_mib", "train_parameter_mib")


def _memory_stats(engine: Any) -> dict[str, float]:
    r"""Peak training memory of a step (:class:`~graphcl.train.plugins.TrainingMemory`) and
    seconds per training step."""
    out = {k: float(engine.stats[k]) for k in _MEMORY_KEYS if k in engine.stats}
    secs = engine.stats.get("train_seconds", [])
    if len(secs) > 1:
        out["train_s_per_step"] = sum(secs[1:]) / len(secs[1:])
    return out


def _per_layer(metric: str):
    r"""The validation and test metric of the greedy model with 1..L layers, the steps each
    layer trained for, the peak training memory of a step over all layers and the mean
    seconds per step over all layers (each layer's first step left out)."""

    def report(engine: Any, result: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, float] = {}
        stats: dict[str, float] = {}
        secs: list[float] = []
        for i, exp in enumerate(result["stream"]["experiences"]):
            for split in ("valid", "test"):
                key = f"{split}_{metric}"
                if key in exp["metrics"]:
                    out[f"{key}_l{i + 1}"] = exp["metrics"][key]
            stats[f"steps_l{i + 1}"] = float(exp["epochs"])
            st = exp["stats"]
            secs += st.get("train_seconds", [])[1:]
            for k in _MEMORY_KEYS[:1]:
                if k in st:
                    stats[f"{k}_l{i + 1}"] = float(st[k])
                    stats[k] = max(stats.get(k, 0.0), float(st[k]))
        if secs:
            stats["train_s_per_step"] = sum(secs) / len(secs)
        return {"metrics": out, "stats": stats}

    return report
