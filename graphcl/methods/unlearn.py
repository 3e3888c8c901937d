r"""Graph unlearning on the GNNDelete protocol: ``graphcl run retrain|grad_ascent|gnndelete|
d2dgn|ssd|analytic --dataset cora --set unlearn.kind=edge unlearn.size=100``.

Every seed: the graph is split as GNNDelete does (5 % validation, 5 % test, one negative per
positive); the *original* link predictor (``backbone`` GCN/GAT/GIN, ``in → 128 → 64``, inner
product decoder, Adam 1e-3, ``epochs`` full-batch epochs, the best validation-AUROC
evaluation) is trained; ``unlearn.requests`` disjoint requests of ``unlearn.size`` pairs
(``kind=edge``: from the ``where`` pool, ``in`` or ``out`` of the test edges' 2-hop
neighbourhood) or nodes (``kind=node``: their pairs; ``kind=feature``: their features) are
drawn; the *retrain reference* (the same model trained from scratch on what is retained) is
computed; then the method forgets the requests one after another, each an experience of the
:class:`~graphcl.train.Engine` (its ``before_unlearn``/``after_unlearn`` hooks and every
plugin fire), and is scored as the harness does: Dt ``test_auc``/``test_ap``, Df
``df_auc``/``df_ap``, the membership-inference attack's ``df_mi``, the distance to the
retrained model, and the retrain reference's and the original model's metrics from the same
run (``retrain_*``, ``original_*``). The original model, the retrain reference and the attack
are computed once per (data, split, backbone, request) and cached under the results
directory, so every method of a comparison reads the same ones.

Config: ``models/unlearning.yaml`` (GNNDelete's settings; each method's options in its own
section, e.g. ``--set d2dgn.alpha=0.5``).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from graphcl.lifelong.unlearning import (
    UnlearnLinkTask,
    sample_edge_request,
    sample_node_request,
)
from graphcl.lifelong.unlearning.methods import UNLEARNERS
from graphcl.methods import ConfigError, Method, Setup, register

# each method's options and defaults, read from its signature (retrain uses the model's own
# epochs and learning rate)
_OPTIONS = {name: {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                   if k not in ("self", "seed")} for name, cls in UNLEARNERS.items()
            if name != "retrain"}
_OPTIONS["retrain"] = {}
_REQUEST = {"kind": "edge", "size": 100, "where": "in", "requests": 1, "select": "last",
            "draws": 500, "mi": True, "seed": None}
_MEMORY: dict[str, dict[str, Any]] = {}  # in-process cache: one quickstart tour trains once


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _tensor_digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:20]


def _cached(kind: str, key: dict[str, Any], out_dir: Path | None, fn) -> dict[str, Any]:
    r"""``fn()`` once per ``key``: kept in memory and, with ``out_dir``, in
    ``<out_dir>/unlearning-cache/<kind>-<digest>.pt`` (written atomically, read back with
    ``weights_only=True``; the key is stored and checked)."""
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint

    name = f"{kind}-{_digest(key)}"
    if name in _MEMORY:
        return _MEMORY[name]
    path = out_dir / "unlearning-cache" / f"{name}.pt" if out_dir is not None else None
    if path is not None and path.is_file():
        state = load_checkpoint(path)
        if state.get("key") == json.loads(json.dumps(key, default=str)):
            _MEMORY[name] = state["value"]
            return state["value"]
    value = fn()
    _MEMORY[name] = value
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, {"key": json.loads(json.dumps(key, default=str)), "value": value})
    return value


def _say(msg: str) -> None:
    print(f"[unlearning] {msg}", file=sys.stderr, flush=True)


class _UnlearnMethod(Method):
    r"""The shared protocol; a subclass names the unlearning method."""

    task = "link unlearning"
    kinds = ("graph",)
    config_file = "unlearning"
    defaults = {"backbone": "gcn", "hidden": 128, "out": 64, "lr": 1e-3, "epochs": 2000,
                "eval_every": 100, "val_ratio": 0.05, "test_ratio": 0.05, "normalize": True,
                "unlearn": dict(_REQUEST), **{k: dict(v) for k, v in _OPTIONS.items()}}
    section_keys = ("unlearn", *_OPTIONS)
    resumable = ()

    # --- config ------------------------------------------------------------------------------
    def configure(self, file_config, dataset_names=(), overrides=None):
        for key in overrides or {}:
            top = key.split(".", 1)[0]
            if top in _OPTIONS and top != self.name:
                raise ConfigError(f"method {self.name!r}: {key!r} sets an option of "
                                  f"{top!r}; this method's options are {self.name}.*")
        cfg = super().configure(file_config, dataset_names, overrides)
        for name in _OPTIONS:
            if name != self.name:
                cfg.pop(name, None)
        unknown = set(cfg["unlearn"]) - set(_REQUEST)
        unknown |= set(cfg.get(self.name, {})) - set(_OPTIONS[self.name])
        if unknown:
            raise ConfigError(f"method {self.name!r}: unknown option(s) {sorted(unknown)}; "
                              f"unlearn.* takes {sorted(_REQUEST)}, {self.name}.* takes "
                              f"{sorted(_OPTIONS[self.name])}")
        cfg["unlearn"] = u = {**_REQUEST, **cfg["unlearn"]}  # a file's section sets some keys
        cfg[self.name] = {**_OPTIONS[self.name], **cfg.get(self.name, {})}
        if u["kind"] not in ("edge", "node", "feature"):
            raise ConfigError(f"unlearn.kind must be 'edge', 'node' or 'feature', got {u['kind']!r}")
        if u["select"] not in ("last", "valid_auc"):
            raise ConfigError(f"unlearn.select must be 'last' or 'valid_auc', got {u['select']!r}")
        if int(u["requests"]) < 1 or float(u["size"]) <= 0:
            raise ConfigError(f"unlearn.requests must be >= 1 and unlearn.size > 0, got "
                              f"{u['requests']}, {u['size']}")
        return cfg

    # --- the shared pieces, cached -------------------------------------------------------------
    def _model(self, cfg, in_channels):
        from graphcl.models.unlearning import DotGNN

        return DotGNN(in_channels, cfg["hidden"], cfg["out"], backbone=cfg["backbone"])

    def _train(self, cfg, data, split, request, seed) -> dict[str, Any]:
        r"""A model trained from scratch on ``split`` (without ``request``'s data if given),
        selected on validation AUROC: the original model, or the retrain reference."""
        from graphcl.train.engine import Engine
        from graphcl.train.seed import seed_everything
        from graphcl.train.tasks import StaticLinkTask

        seed_everything(seed)
        model = self._model(cfg, data.x.size(1))
        task = StaticLinkTask(data, split, metrics=("auc", "ap")) if request is None else \
            UnlearnLinkTask(data, split, request)
        engine = Engine(model, torch.optim.Adam(model.parameters(), lr=cfg["lr"]),
                        max_epochs=int(cfg["epochs"]), eval_every=int(cfg["eval_every"]),
                        monitor="valid_auc", progress=False)
        t0 = time.perf_counter()
        res = engine.fit(task)
        seconds = time.perf_counter() - t0
        return {"state": copy.deepcopy(model.state_dict()), "seconds": seconds,
                "metrics": res["metrics"], "best_epoch": res["best_epoch"]}

    def _requests(self, cfg, split, seed):
        u = cfg["unlearn"]
        s = int(u["seed"]) if u["seed"] is not None else seed
        n, out, taken = split.num_nodes, [], torch.zeros(split.train_pos.size(1), dtype=torch.bool)
        for k in range(int(u["requests"])):
            if u["kind"] == "edge":
                r = sample_edge_request(split.train_pos, split.test_pos, n, float(u["size"]),
                                        where=u["where"], seed=s + k, exclude=taken)
            else:
                done = torch.cat([q.nodes for q in out]) if out else None
                r = sample_node_request(split.train_pos, n, float(u["size"]), seed=s + k,
                                        exclude=done, features_only=u["kind"] == "feature")
                if (r.df_mask & taken).any():  # a later node's pairs an earlier one took
                    r = type(r)(r.kind, r.df_mask & ~taken, r.nodes, r.graph_mask & ~taken,
                                r.feature_nodes)
            out.append(r)
            taken = taken | r.df_mask
        return out

    # --- build ---------------------------------------------------------------------------------
    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        from graphcl.data.fingerprint import fingerprint
        from graphcl.lifelong.unlearning import get_unlearner
        from graphcl.lifelong.unlearning.attack import MembershipAttack
        from graphcl.train.seed import seed_everything
        from graphcl.train.tasks import link_split_for

        _, split = link_split_for(dataset, seed, {"protocol": "random",
                                                  "val_ratio": cfg["val_ratio"],
                                                  "test_ratio": cfg["test_ratio"]})
        x = dataset.x if dataset.x is not None else torch.eye(split.num_nodes)
        x = x.float()
        if cfg["normalize"]:  # GNNDelete's NormalizeFeatures: rows sum to one
            x = x / x.sum(1, keepdim=True).clamp(min=1e-12) if (x >= 0).all() else x
        data = Data(x=x, num_nodes=split.num_nodes)
        model_keys = ("backbone", "hidden", "out", "lr", "epochs", "eval_every", "val_ratio",
                      "test_ratio", "normalize")
        base_key = {"data": fingerprint(dataset), "seed": seed,
                    **{k: cfg[k] for k in model_keys}}

        requests = self._requests(cfg, split, seed)  # a request that cannot be drawn fails first
        original = _cached("original", base_key, out_dir, lambda: (
            _say(f"training the original model (seed {seed}, {cfg['epochs']} epochs)"),
            self._train(cfg, data, split, None, seed))[1])
        unions = [requests[0]]
        for r in requests[1:]:
            unions.append(unions[-1].then(r))
        union = unions[-1]
        req_key = {**base_key, "requests": [_tensor_digest(r.df_mask) + _tensor_digest(
            r.feature_nodes) for r in requests], "kind": cfg["unlearn"]["kind"]}
        u = cfg["unlearn"]
        retrain = None
        if self.name != "retrain":
            retrain = _cached("retrain", req_key, out_dir, lambda: (
                _say(f"training the retrain reference (seed {seed})"),
                self._train(cfg, data, split, union, seed))[1])
        attack = None
        if u["mi"]:
            def make_attack():
                seed_everything(seed)
                probe = self._model(cfg, x.size(1))
                a = MembershipAttack(probe, x, split, seed=seed)
                return {"state": a.attacker.state_dict(), "auc": a.auc}
            attack = _cached("attack", base_key, out_dir, make_attack)

        seed_everything(seed + 1)  # the same stream whether or not the caches were warm
        model = self._model(cfg, x.size(1))
        model.load_state_dict(original["state"])
        opts = {**cfg[self.name]}
        if "seed" in inspect.signature(UNLEARNERS[self.name].__init__).parameters:
            opts["seed"] = seed
        if self.name == "retrain":
            opts.update(epochs=cfg["epochs"], lr=cfg["lr"])
        unlearner = get_unlearner(self.name, **opts)
        bases = [UnlearnLinkTask(data, split, un, new=r, draws=int(u["draws"]), seed=seed)
                 for un, r in zip(unions, requests, strict=True)]
        trained, optimizer, first, epochs = unlearner.setup(model, bases[0])
        tasks = [first] + [unlearner.next_request(trained, b) for b in bases[1:]]
        if self.name == "retrain" or u["select"] == "valid_auc":
            every = int(cfg["eval_every"]) if self.name == "retrain" else max(1, epochs // 10)
        else:
            every = epochs  # "last": one evaluation, after the last epoch
        engine = {"max_epochs": epochs, "eval_every": every, "monitor": "valid_auc",
                  "eval_splits": ("valid", "test", "df"),
                  "checkpoint_every": max(1, min(every, epochs // 20))}  # ~20 states a run

        def report(engine, result) -> dict[str, float]:
            return self._report(engine, result, tasks, data, split, original, retrain, attack,
                                cfg)

        if self.name == "retrain":  # the same draws as the reference: its twin run
            seed_everything(seed)
        return Setup(trained, optimizer, first, engine,
                     stream=tasks if len(tasks) > 1 else None, report=report)

    # --- after unlearning ----------------------------------------------------------------------
    def _report(self, engine, result, tasks, data, split, original, retrain, attack, cfg
                ) -> dict[str, Any]:
        from graphcl.lifelong.unlearning.attack import MembershipAttack, output_kl, param_distance

        last = tasks[-1].base if hasattr(tasks[-1], "base") else tasks[-1]
        model = engine.model
        out: dict[str, Any] = {}
        for k, v in original["metrics"].items():
            out[f"original_{k}"] = v
        orig = self._model(cfg, data.x.size(1))
        orig.load_state_dict(original["state"])
        orig.eval()
        if retrain is None:  # the retrain method is its own reference
            ref = model
            ref_metrics = result["metrics"]
        else:
            from graphcl.train.engine import Engine

            ref = self._model(cfg, data.x.size(1))
            ref.load_state_dict(retrain["state"])
            ref_metrics = Engine(ref, None, max_epochs=0, progress=False).evaluate(
                last, ["valid", "test", "df"])
        out.update({f"retrain_{k}": v for k, v in ref_metrics.items()})
        out["original_df_auc"] = last.df_metrics(orig, before=True)["auc"]
        deleted = last.deleted
        if attack is not None:
            a = MembershipAttack.from_state(attack["state"], attack["auc"])
            before = a.present(orig, last.full_x, last.full_edge_index, deleted)
            after = a.present(model, last.x, last.edge_index, deleted)
            out["df_mi"] = float(after.mean())
            out["mi_before"] = float(before.mean())
            out["mi_ratio"] = float((after / before.clamp_min(1e-12)).mean())
            out["retrain_df_mi"] = float(a.present(ref, last.x, last.edge_index, deleted).mean())
            out["mi_attack_auc"] = a.auc
        if retrain is not None:
            pairs = torch.cat([split.test_pos, split.test_neg, deleted], 1)
            was = model.training
            model.eval()
            out["retrain_kl"] = output_kl(model, ref, last.x, last.edge_index, pairs)
            model.train(was)
            if type(model) is type(ref):
                out["retrain_param_dist"] = param_distance(model, ref)
        exps = result["stream"]["experiences"] if result.get("stream") else [result]
        if len(exps) > 1:
            out["first_test_auc"] = exps[0]["metrics"].get("test_auc", float("nan"))
        # unlearning time: the methods' epochs and one-off preparation, not the harness's
        # evaluations
        seconds = sum(sum(e["stats"].get("train_seconds", [])) for e in exps)
        seconds += sum(getattr(t, "prep_seconds", 0.0) for t in tasks)
        stats = {"unlearn_s": seconds, "original_s": original["seconds"]}
        if retrain is not None:
            stats["retrain_s"] = retrain["seconds"]
            stats["speedup_vs_retrain"] = retrain["seconds"] / max(seconds, 1e-9)
        return {"metrics": out, "stats": stats}


def _quick(name: str, **opts: Any) -> dict[str, Any]:
    sets = {"epochs": 100, "eval_every": 20, "hidden": 32, "out": 16, "unlearn.size": 100,
            "unlearn.draws": 50, **{f"{name}.{k}": v for k, v in opts.items()}}
    return {"dataset": "synthetic:sbm", "set": sets, "metric": "test_auc"}


def _define(name: str, description: str, quick: dict[str, Any]) -> None:
    cls = type(f"Unlearn_{name}", (_UnlearnMethod,), {
        "name": name, "description": description, "quickstart": quick,
        "examples": (f"graphcl run {name} --dataset cora --seed-list 42 --set unlearn.size=100 "
                     "unlearn.where=in --out results/cora/" + name + ".json",
                     f"graphcl run {name} --dataset cora-ml --set unlearn.kind=node "
                     "unlearn.size=20 backbone=gat")})
    register(cls)


_define("retrain", "unlearning gold standard: retrain from scratch on the retained graph",
        _quick("retrain"))
_define("grad_ascent", "unlearning by gradient ascent on the deleted edges (GNNDelete baseline)",
        _quick("grad_ascent"))
_define("gnndelete", "GNNDelete: learnt deletion operators on the deleted edges' neighbourhood",
        _quick("gnndelete", epochs=50))
_define("d2dgn", "D2DGN: distil from the original (retained) and a knowledge-free model (deleted)",
        _quick("d2dgn", epochs=30))
_define("ssd", "selective synaptic dampening: Fisher-importance dampening, no retraining",
        _quick("ssd"))
_define("analytic", "analytic unlearning: exact removal from a least-squares head",
        _quick("analytic"))
