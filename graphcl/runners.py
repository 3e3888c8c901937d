r"""Method registry and the multi-seed experiment runner behind ``graphcl run``.

A method registers one function::

    @register_method("ncnc")
    def run(dataset_name, dataset, config, seed, *, out_dir=None) -> dict[str, float]

which trains and evaluates once with ``seed`` and returns metrics keyed ``"<split>_<metric>"``
as fractions (e.g. ``{"valid_hits@100": 0.91, "test_hits@100": 0.89}``); run statistics that
are not fractions (seconds, events/s, epochs) are keyed ``"stat_<name>"``.
:func:`run_experiment` resolves the dataset, reads ``models/<method>.yaml``, runs the seeds,
aggregates mean ± std and writes the results JSON atomically. Seeds already finished by a killed
run are read back from ``<out>.partial.json`` and not run again. Optional attributes of a runner:
``config_name`` (the YAML it reads), ``effective_config(dataset_name, config)`` (the config the
seeds really ran with, recorded as ``effective_config``) and ``seed_recorded(dataset_name,
config, seed, out_dir)``, called once a seed's metrics are in the partial file (e.g. to delete
the seed's resume state).
"""

from __future__ import annotations

import importlib
import json
import math
import platform
import resource
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from graphcl.train.checkpoint import write_json_atomic

Runner = Callable[..., dict[str, float]]
_METHODS: dict[str, Runner] = {}
# Modules whose import registers methods; a missing optional module is skipped.
_METHOD_MODULES = ("graphcl.train.baselines", "graphcl.train.link", "graphcl.train.temporal")


def register_method(*names: str) -> Callable[[Runner], Runner]:
    r"""Decorator registering a runner under one or more method names."""

    def wrap(fn: Runner) -> Runner:
        for name in names:
            if name in _METHODS and _METHODS[name] is not fn:
                raise ValueError(f"method {name!r} is registered twice")
            _METHODS[name] = fn
        return fn

    return wrap


def _import_all() -> None:
    for mod in _METHOD_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def available_methods() -> list[str]:
    _import_all()
    return sorted(_METHODS)


def get_method(name: str) -> Runner:
    _import_all()
    if name not in _METHODS:
        raise KeyError(f"unknown method {name!r}; available: {sorted(_METHODS)}")
    return _METHODS[name]


def versions() -> dict[str, str]:
    import numpy
    import torch
    import torch_geometric

    import graphcl

    return {
        "graphcl": graphcl.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": numpy.__version__,
    }


def peak_rss_mb() -> float:
    r"""Peak resident memory of this process in MiB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024


def aggregate_metrics(per_seed: Sequence[dict[str, float]]) -> dict[str, dict[str, Any]]:
    r"""``{"<split>_<metric>": {"mean", "std", "values"}}`` over seeds (keys all seeds share)."""
    from graphcl.evaluate.runs import aggregate

    keys = [k for k in per_seed[0] if all(k in m for m in per_seed)] if per_seed else []
    out = {k: aggregate([float(m[k]) for m in per_seed]) for k in keys}
    return json_safe(out)


def json_safe(obj: Any) -> Any:
    r"""JSON has no NaN/inf: an undefined value (one seed's std, an empty split's AP) is null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


SYNTHETIC = {
    "sbm": ("synthetic-sbm", "attributed_sbm"),
    "temporal-sbm": ("synthetic-temporal-sbm", "temporal_sbm_stream"),
    "signed": ("synthetic-signed", "signed_temporal_stream"),
}


def resolve(spec: str, root: str | Path | None = None) -> tuple[str, Any]:
    r"""A dataset from a card name, ``FORMAT:PATH``, or ``synthetic:<kind>`` (the embedded
    generators, seed 0: ``sbm``, ``temporal-sbm``, ``signed``) — the last needs no files."""
    if spec.startswith("synthetic:"):
        kind = spec.split(":", 1)[1]
        if kind not in SYNTHETIC:
            raise ValueError(f"unknown synthetic dataset {kind!r}; choose from {sorted(SYNTHETIC)}")
        from graphcl.data import synthetic

        name, fn = SYNTHETIC[kind]
        return name, getattr(synthetic, fn)(seed=0)
    from graphcl.data import resolve_dataset

    return resolve_dataset(spec, root=root)


def run_experiment(
    method: str,
    dataset: str,
    *,
    config: str | Path | None = None,
    seeds: int | Sequence[int] = 1,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    root: str | Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    r"""Runs ``method`` on ``dataset`` for several seeds and returns the results dict.

    Args:
        method (str): registered method name (see :func:`available_methods`).
        dataset (str): a dataset card name or ``FORMAT:PATH``.
        config (str or Path, optional): config file; default ``models/<method>.yaml`` (the
            method's own name, or the config named by the runner's ``config_name``).
        seeds (int or Sequence[int], optional): number of seeds (``0..n-1``) or the seeds.
            (default: ``1``)
        out (str or Path, optional): results JSON file, written atomically. (default: ``None``)
        overrides (dict, optional): config values that win over the file. (default: ``None``)
        root (str or Path, optional): data root. (default: ``$GRAPHCL_DATA``)
        command (str, optional): the command line recorded in the results.
    """
    from graphcl.config import method_config

    runner = get_method(method)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    name, data = resolve(dataset, root=root)
    cfg_name = getattr(runner, "config_name", method)
    cfg = method_config(cfg_name, name, path=config, overrides=overrides)
    cfg.setdefault("method", method)

    partial_path = Path(f"{out}.partial.json") if out is not None else None
    done: dict[int, dict[str, float]] = {}
    elapsed = 0.0
    if partial_path is not None and partial_path.is_file():
        prev = json.loads(partial_path.read_text())
        if prev.get("method") == method and prev.get("dataset") == name and prev.get(
            "config"
        ) == cfg:
            done = {int(k): {m: float("nan") if x is None else x for m, x in v.items()}
                    for k, v in prev["per_seed"].items()}
            elapsed = float(prev.get("wall_time_s", 0.0))
    out_dir = Path(out).parent if out is not None else None
    for seed in seed_list:
        if seed in done:
            continue
        t0 = time.perf_counter()
        metrics = runner(name, data, dict(cfg), seed, out_dir=out_dir)
        elapsed += time.perf_counter() - t0
        done[seed] = {k: float(v) for k, v in metrics.items()}
        if partial_path is not None:
            write_json_atomic(
                partial_path,
                json_safe({"method": method, "dataset": name, "config": cfg,
                            "wall_time_s": elapsed,
                            "per_seed": {str(k): v for k, v in done.items()}}),
            )
            finished = getattr(runner, "seed_recorded", None)
            if finished is not None:
                # the seed's metrics are on disk: its per-epoch resume state is not needed
                finished(name, dict(cfg), seed, out_dir)
    per_seed = [done[s] for s in seed_list]
    results = {
        "method": method,
        "dataset": name,
        "metrics": aggregate_metrics(per_seed),
        "seeds": seed_list,
        "config": cfg,
        "wall_time_s": round(elapsed, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "versions": versions(),
    }
    effective = getattr(runner, "effective_config", None)
    if effective is not None:
        # what the seeds actually ran with (e.g. the predictor that `method` selects)
        results["effective_config"] = json_safe(effective(name, dict(cfg)))
    if out is not None:
        write_json_atomic(out, results)
        if partial_path is not None and partial_path.exists():
            partial_path.unlink()
    return results
