r"""seeds → method → Engine → results: the one runner behind ``graphcl run``, the quickstart and
every experiment script, and the one results writer and schema.

:func:`run_experiment` resolves the dataset (card name, ``FORMAT:PATH`` or
``synthetic:KIND``), checks that the method takes that kind of dataset, merges the method's
config (``models/<method>.yaml``: defaults, the dataset's section — found under the card's
name or any alias — and the overrides; unknown keys are an error), and for every seed: seeds
the RNGs, builds the method's model/optimiser/task, and trains it with
:class:`~graphcl.train.Engine` and the requested plugins. With ``out``:

* ``<out>.seed<k>.state.pt`` is the seed's per-epoch resume state: a killed run continues the
  seed from its last epoch and ends with the uninterrupted run's metrics; it is keyed on the
  method, the config, the plugins, the data's content digest and the seed, and a state of
  another run is refused with the keys that differ; it is deleted once the seed is recorded;
* ``<out>.partial.json`` keeps the finished seeds (keyed on method, the whole config, plugins
  and data digest: another run's file is refused); a rerun skips them;
* ``out`` gets the results JSON, written atomically (schema below); the partial file goes. A
  later run of the same configuration with more seeds reuses the seeds it holds.

Results schema (metric values are fractions, as OGB returns them; ``std`` is the sample
standard deviation, ``null`` for one seed)::

    {"method", "dataset", "metrics": {"<split>_<metric>": {"mean", "std", "values"}},
     "stats": {"<name>": {"mean", "std", "values"}},   # seconds, epochs, best epoch ...
     "curves": {"<monitor>": [[per-epoch values of seed 0], ...]},
     "seeds", "config", "plugins", "data_sha256", "wall_time_s", "peak_rss_mb", "command",
     "versions"}
"""

from __future__ import annotations

import json
import math
import platform
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphcl.methods import ConfigError, DatasetKindError, Method, get_method
from graphcl.train.checkpoint import write_json_atomic

__all__ = ["run_experiment", "run_seed", "resolve", "aggregate_metrics", "json_safe",
           "versions", "peak_rss_mb", "PartialResultsError", "SYNTHETIC"]


class PartialResultsError(ValueError):
    r"""``<out>.partial.json`` belongs to another run."""


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


def json_safe(obj: Any) -> Any:
    r"""JSON has no NaN/inf: an undefined value (one seed's std, an empty split's AP) is null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def aggregate_metrics(per_seed: Sequence[dict[str, float]]) -> dict[str, dict[str, Any]]:
    r"""``{"<key>": {"mean", "std", "values"}}`` over seeds (keys all seeds share; sample std,
    ``None`` for one seed or where a value is undefined)."""
    from graphcl.evaluate.runs import aggregate

    keys = [k for k in per_seed[0] if all(k in m for m in per_seed)] if per_seed else []
    return json_safe({k: aggregate([float("nan") if m[k] is None else float(m[k])
                                    for m in per_seed]) for k in keys})


SYNTHETIC = {
    "sbm": ("synthetic-sbm", "attributed_sbm"),
    "temporal-sbm": ("synthetic-temporal-sbm", "temporal_sbm_stream"),
    "signed": ("synthetic-signed", "signed_temporal_stream"),
    "graphs": ("synthetic-graphs", "graph_collection"),
    "images": ("synthetic-images", "image_classes"),
}


def resolve(spec: str, root: str | Path | None = None) -> tuple[str, Any, tuple[str, ...]]:
    r"""A dataset from a card name or alias, ``FORMAT:PATH``, or ``synthetic:KIND`` (the
    embedded generators, seed 0; no files). Returns ``(name, object, names)`` where
    ``names`` are the names a config section may use (the card's name and its aliases)."""
    if spec.startswith("synthetic:"):
        kind = spec.split(":", 1)[1]
        if kind not in SYNTHETIC:
            raise KeyError(f"unknown synthetic dataset {kind!r}; choose from {sorted(SYNTHETIC)}")
        from graphcl.data import synthetic

        name, fn = SYNTHETIC[kind]
        return name, getattr(synthetic, fn)(seed=0), (name,)
    from graphcl.data import get_card, resolve_dataset

    name, data = resolve_dataset(spec, root=root)
    names: tuple[str, ...] = (name,)
    try:
        card = get_card(name)
        names = (card.name, *card.aliases, spec.lower())
    except KeyError:  # FORMAT:PATH without a card
        pass
    return name, data, names


def _stats(result: dict[str, Any]) -> dict[str, float]:
    st = result["stats"]
    train = st.get("train_seconds", [])
    evals = st.get("eval_seconds", [])
    # the first epoch pays one-off costs (allocation, caches): timed from the second on
    timed = train[1:] or train
    out = {"epochs": float(result["epochs"]),
           "best_epoch": float(result["best_epoch"]) if result["best_epoch"] is not None else
           float("nan")}
    if timed:
        out["train_s_per_epoch"] = sum(timed) / len(timed)
        if st.get("train_examples"):
            out["train_examples_per_s"] = st["train_examples"] / out["train_s_per_epoch"]
    if evals:
        out["eval_s_per_epoch"] = sum(evals[1:] or evals) / len(evals[1:] or evals)
    # a data-parallel run's collectives: gradients, node-state sync (replicated state) or the
    # row exchanges (node state stored by owner)
    for name in ("comm", "sync", "exchange"):
        if st.get(f"{name}_seconds") is not None and train:
            out[f"{name}_s_per_epoch"] = st[f"{name}_seconds"] / len(train)
    if st.get("exchange_bytes") is not None and train:
        out["exchange_mb_per_epoch"] = st["exchange_bytes"] / len(train) / 2**20
    if st.get("node_state_bytes") is not None:  # a memory model's node state on one rank
        out["node_state_mb"] = st["node_state_bytes"] / 2**20
    return out


def run_seed(method: Method, dataset: Any, cfg: dict[str, Any], seed: int, *,
             plugins: Sequence[Any] = (), state_path: Path | None = None,
             fingerprint: dict[str, Any] | None = None, out_dir: Path | None = None,
             progress: bool = True, verbose: bool = False,
             stream: str | None = None, env: Any = None,
             shard_by: str = "time", partition_memory: bool = False) -> dict[str, Any]:
    r"""Trains one seed of ``method`` and returns ``{"metrics", "stats", "curve", "result"}``.

    With ``stream`` (a :class:`~graphcl.data.streams.StreamSpec` string) the method's task is
    cut into a stream of experiences, trained in turn; the metrics are then the stream's
    (:func:`~graphcl.evaluate.continual.continual_metrics` of the monitored metric on the
    test data) and ``"stream"`` holds the metric matrix.

    With ``env`` (a :class:`~graphcl.distributed.DistEnv` of several processes) this process
    trains its shard of a data-parallel run: the method's task becomes its sharded version
    and the :class:`~graphcl.distributed.DataParallel` plugin comes last (``shard_by``: see
    :func:`~graphcl.distributed.shard_task`); only rank 0 writes the checkpoint, every rank
    resumes from it. With ``partition_memory`` a memory model's node state is stored by owner
    and every rank writes and resumes its own checkpoint (:func:`rank_state_path`)."""
    from graphcl.train.engine import Engine
    from graphcl.train.plugins import EpochLogger
    from graphcl.train.seed import seed_everything

    seed_everything(int(seed))
    setup = method.build(dataset, cfg, int(seed), out_dir=out_dir)
    if stream is not None:
        from graphcl.train.continual import build_stream

        if setup.stream is not None:
            raise ValueError(f"method {method.name!r} trains its own stream of experiences; "
                             "it cannot take --stream")
        setup.stream = build_stream(setup.task, stream)
        setup.task = setup.stream[0]
    extra = [EpochLogger(prefix=f"seed {seed} ")] if verbose else []
    parallel = env is not None and env.world_size > 1
    if parallel:
        from graphcl.distributed import DataParallel, shard_task

        if setup.stream is not None:
            raise ValueError("data-parallel training (--nproc) does not take a stream of "
                             "experiences")
        setup.task = shard_task(setup.task, env, shard_by, model=setup.model,
                                partition_memory=partition_memory)
        if partition_memory and state_path is not None:
            state_path = rank_state_path(state_path, env.rank)
        extra.append(DataParallel(env))  # after every plugin that changes gradients
    engine = Engine(setup.model, setup.optimizer, plugins=[*setup.plugins, *plugins, *extra],
                    checkpoint=state_path, fingerprint=fingerprint, progress=progress,
                    **setup.engine)
    engine.write_checkpoints = not parallel or env.is_main or partition_memory
    if setup.stream is not None:
        streamed = engine.fit_stream(setup.stream, initial=stream is not None)
        result = {**streamed["experiences"][-1], "history": list(engine.history),
                  "stream": streamed}
    else:
        result = engine.fit(setup.task)
    method.after_fit(setup, engine, cfg, int(seed), out_dir)
    stats = _stats(result)
    if setup.stats is not None:
        stats.update(setup.stats(engine))
    metrics = dict(result["metrics"])
    matrix = None
    if stream is not None and stream.split(":", 1)[0].strip() == "repeat":
        streamed = result["stream"]  # rounds of one task: the last round's metrics
        key = "test_" + engine.monitor.split("_", 1)[1]
        matrix = {"key": key, "matrix": streamed["matrix"], "initial": streamed.get("initial")}
    elif stream is not None:
        from graphcl.evaluate.continual import continual_metrics

        key = "test_" + engine.monitor.split("_", 1)[1]
        streamed = result["stream"]
        metrics = continual_metrics(streamed["matrix"], key, streamed.get("initial"),
                                    _unlearning_position(setup.stream))
        matrix = {"key": key, "matrix": streamed["matrix"], "initial": streamed.get("initial")}
    if setup.report is not None:
        extra = setup.report(engine, result)
        metrics.update(extra.get("metrics", {}))
        stats.update(extra.get("stats", {}))
    curve = [h[engine.monitor] for h in result["history"]]
    return {"metrics": metrics, "stats": stats, "curve": curve, "result": result,
            "monitor": engine.monitor, "engine": engine, "setup": setup, "stream": matrix}


def _unlearning_position(stream: Sequence[Any]) -> tuple[int, int] | None:
    r"""``(row, column of the forgotten task)`` of a stream's task-unlearning experience."""
    for row, exp in enumerate(stream):
        label = getattr(getattr(exp, "unlearn_request", None), "task_label", None)
        if label is not None:
            col = next(i for i, e in enumerate(stream[:row])
                       if getattr(e, "task_label", None) == label
                       and getattr(e, "unlearn_request", None) is None)
            return row, col
    return None


def run_experiment(
    method: str,
    dataset: str,
    *,
    config: str | Path | None = None,
    seeds: int | Sequence[int] = 1,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    plugins: Sequence[str | dict[str, Any]] = (),
    root: str | Path | None = None,
    command: str | None = None,
    progress: bool = True,
    verbose: bool = False,
    data: tuple[str, Any, tuple[str, ...]] | None = None,
    stream: str | None = None,
    workers: int = 1,
    executor: str = "process",
    threads: int | None = None,
    shard_by: str = "time",
    partition_memory: bool = False,
) -> dict[str, Any]:
    r"""Runs ``method`` on ``dataset`` for several seeds and returns the results dict.

    Args:
        method (str): a registered method (``graphcl methods``).
        dataset (str): a card name or alias, ``FORMAT:PATH`` or ``synthetic:KIND``.
        config (str or Path, optional): config file (default: the method's
            ``models/<name>.yaml``).
        seeds (int or Sequence[int], optional): number of seeds (``0..n-1``) or the seeds.
            (default: ``1``)
        out (str or Path, optional): results JSON file, written atomically. (default: ``None``)
        overrides (dict, optional): config values that win over the file (``SECTION.KEY``
            sets a key of a section). (default: ``None``)
        plugins (Sequence, optional): ``"NAME"`` / ``"NAME:key=value,..."`` specs or
            ``{"name": ..., **kwargs}`` dicts (see :mod:`graphcl.lifelong`), after those of
            the config's ``plugins`` key. (default: ``()``)
        root (str or Path, optional): data root. (default: ``$GRAPHCL_DATA``)
        command (str, optional): the command line recorded in the results.
        progress (bool, optional): progress bars. (default: ``True``)
        verbose (bool, optional): one line per epoch on stderr. (default: ``False``)
        data (tuple, optional): an already resolved ``(name, object, names)``.
        stream (str, optional): train a stream of experiences cut from the dataset
            (``"class-incremental:4"``, see :func:`~graphcl.data.streams.parse_stream_spec`);
            each seed's metric matrix is recorded under ``"streams"``.
        workers (int, optional): seeds run side by side in this many processes (or Ray
            tasks), each recorded as it finishes; the results equal the sequential run's
            with the same threads per process. (default: ``1``)
        executor (str, optional): ``"process"`` (spawned processes on this machine) or
            ``"ray"`` (``$RAY_ADDRESS``'s cluster or a local one). (default: ``"process"``)
        threads (int, optional): torch threads per worker (default: the cores shared out).
        shard_by (str, optional): a data-parallel memory model's batch split, ``"time"`` or
            ``"owner"`` (:func:`~graphcl.distributed.shard_task`). (default: ``"time"``)
        partition_memory (bool, optional): a data-parallel memory model stores its node state
            by owner (each rank ``ceil(N / world_size)`` rows; one resume state per rank).
            (default: ``False``)

    In a process started by ``torchrun`` with several processes (``graphcl run --nproc``),
    every seed trains data-parallel across them; the ranks must agree on the run (checked),
    and only rank 0 writes files.

    Raises:
        KeyError: unknown method, dataset or plugin. ConfigError: unknown config key.
        DatasetKindError: a dataset the method cannot take. ResumeError /
        PartialResultsError: files of another run at ``out``.
    """
    from graphcl.config import read_config
    from graphcl.data.fingerprint import fingerprint as digest
    from graphcl.lifelong import build_plugins

    m = get_method(method)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or any(s < 0 for s in seed_list):
        raise ValueError(f"seeds must name at least one non-negative seed, got {seeds!r}")
    name, obj, names = data if data is not None else resolve(dataset, root=root)
    m.check_dataset(obj, name)
    path = Path(config) if config is not None else m.config_path()
    file_cfg = read_config(path) if path is not None else {}
    overrides = dict(overrides or {})
    cfg = m.configure(file_cfg, names, overrides)
    specs = cfg.pop("plugins", None) or []
    plugin_specs = list([specs] if isinstance(specs, str | dict) else specs) + list(plugins)
    build_plugins(plugin_specs)  # unknown plugins and keys fail before anything runs
    if stream is not None:
        from graphcl.data.streams import parse_stream_spec

        parse_stream_spec(stream)  # a malformed stream fails before anything runs
    recorded = {k: v for k, v in cfg.items() if not k.startswith("_")}
    data_sha = digest(obj)
    # finished seeds are reused only by the same run; a seed's per-epoch state also by a run
    # that only raised its epoch cap or patience (the engine checks those)
    key = _plain({"method": m.name, "config": recorded, "plugins": plugin_specs,
                  "data_sha256": data_sha, **({"stream": stream} if stream else {})})
    state_key = _plain({**key, "config": _resumable_free(m, recorded),
                        **({"memory": "stored by owner"} if partition_memory else {})})

    out = Path(out) if out is not None else None
    partial_path = Path(f"{out}.partial.json") if out is not None else None
    done: dict[int, dict[str, Any]] = {}
    elapsed = 0.0
    if partial_path is not None and partial_path.is_file():
        prev = json.loads(partial_path.read_text())
        if prev.get("key") != key:
            from graphcl.train.engine import _diff_keys

            diff = _diff_keys(prev.get("key") or {}, key)
            raise PartialResultsError(
                f"{partial_path} holds seeds of another run ({', '.join(diff[:6])} differ); "
                "delete it or choose another --out")
        done = {int(k): v for k, v in prev["per_seed"].items()}
        elapsed = float(prev.get("wall_time_s", 0.0))
    elif out is not None and out.is_file():
        done = _finished_seeds(out, key)  # a rerun with more seeds runs only the new ones
    from graphcl.distributed import init_from_env

    env = init_from_env()  # this process's place in a torchrun group, else rank 0 of 1
    writes = env.is_main
    if partition_memory and env.world_size == 1:
        raise ValueError("partition_memory stores node state over the processes of a "
                         "data-parallel run: start it with --nproc N (N > 1)")
    if env.world_size > 1:
        env.check_same(key, "run (method, config, plugins, data)")
        if workers > 1:
            raise ValueError("--workers runs seeds in parallel processes; with --nproc each "
                             "seed already uses every process")
        progress, verbose = progress and writes, verbose and writes
    todo = [s for s in seed_list if s not in done]
    jobs = [{"method": m.name, "data": (name, obj, names), "cfg": cfg, "seed": seed,
             "plugins": plugin_specs, "out": out, "fingerprint": {**state_key, "seed": seed},
             "stream": stream, "shard_by": shard_by, "partition_memory": partition_memory}
            for seed in todo]
    t0 = time.perf_counter()
    if (workers > 1 and len(jobs) > 1) or executor == "ray":
        from graphcl.distributed.sweep import run_jobs

        finished = run_jobs(_seed_job, jobs, workers=workers, executor=executor,
                            threads=threads)
    else:
        finished = ((job, _seed_job(job, progress=progress, verbose=verbose, env=env))
                    for job in jobs)
    for job, record in finished:
        seed = job["seed"]
        done[seed] = record
        if partial_path is not None and writes:
            write_json_atomic(partial_path, {"key": key,
                                             "wall_time_s": elapsed + time.perf_counter() - t0,
                                             "per_seed": {str(k): v for k, v in done.items()}})
            _drop_states(out, seed)  # the seed is recorded: its states are not needed
    elapsed += time.perf_counter() - t0
    per = [done[s] for s in seed_list]
    monitor = per[0]["monitor"]
    results = {
        "method": m.name,
        "dataset": name,
        "metrics": aggregate_metrics([p["metrics"] for p in per]),
        "stats": aggregate_metrics([p["stats"] for p in per]),
        "curves": {monitor: [p["curve"] for p in per]},
        "seeds": seed_list,
        "config": key["config"],
        "plugins": plugin_specs,
        **({"stream": stream, "streams": {str(s): done[s]["stream"] for s in seed_list}}
           if stream else {}),
        "data_sha256": data_sha,
        "wall_time_s": round(elapsed, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "versions": versions(),
    }
    if out is not None and writes:
        write_json_atomic(out, json_safe(results))
        if partial_path is not None and partial_path.exists():
            partial_path.unlink()
    if env.world_size > 1:
        env.barrier()  # every rank returns once the results are written
    return results


def rank_state_path(path: Path, rank: int) -> Path:
    r"""Rank ``rank``'s resume state beside ``path`` (rank 0's): ``X.state.pt`` →
    ``X.rank<r>.state.pt`` (a run whose node state is stored by owner: one file per rank)."""
    if rank == 0:
        return path
    if path.name.endswith(".state.pt"):
        return path.with_name(f"{path.name[:-len('.state.pt')]}.rank{rank}.state.pt")
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def _seed_job(job: dict[str, Any], *, progress: bool = False, verbose: bool = False,
              env: Any = None) -> dict[str, Any]:
    r"""Trains one seed of a run and returns its record (the unit of a parallel sweep)."""
    from graphcl.lifelong import build_plugins

    m = get_method(job["method"])
    out = job["out"]
    state = Path(f"{out}.seed{job['seed']}.state.pt") if out is not None else None
    r = run_seed(m, job["data"][1], job["cfg"], job["seed"],
                 plugins=build_plugins(job["plugins"]), state_path=state,
                 fingerprint=job["fingerprint"], out_dir=out.parent if out is not None else None,
                 progress=progress, verbose=verbose, stream=job["stream"], env=env,
                 shard_by=job["shard_by"], partition_memory=job["partition_memory"])
    return json_safe({"metrics": r["metrics"], "stats": r["stats"], "curve": r["curve"],
                      "monitor": r["monitor"], **({"stream": r["stream"]} if r["stream"] else {})})


def _drop_states(out: Path | None, seed: int) -> None:
    if out is None:
        return
    state = Path(f"{out}.seed{seed}.state.pt")
    state.unlink(missing_ok=True)
    for copy in state.parent.glob(f"{state.stem}.exp*{state.suffix}"):
        copy.unlink(missing_ok=True)  # fit_stream's per-experience copies
    for copy in state.parent.glob(f"{out.name}.seed{seed}.rank*.state.pt"):
        copy.unlink(missing_ok=True)  # the other ranks' states (node state stored by owner)


def _resumable_free(m: Method, cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in m.resumable}


def _plain(obj: Any) -> Any:
    r"""``obj`` as it reads back from JSON (tuples as lists, NaN as null)."""
    return json.loads(json.dumps(json_safe(obj), default=str))


def _finished_seeds(path: Path, key: dict[str, Any]) -> dict[int, dict[str, Any]]:
    r"""Per-seed records of an earlier results file of the same run (else none)."""
    try:
        prev = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    mine = {"method": prev.get("method"), "config": prev.get("config"),
            "plugins": prev.get("plugins"), "data_sha256": prev.get("data_sha256"),
            **({"stream": prev["stream"]} if prev.get("stream") else {})}
    if mine != key:
        return {}
    monitor = next(iter(prev.get("curves") or {}), None)
    out = {}
    for i, s in enumerate(prev["seeds"]):
        out[int(s)] = {
            "metrics": {k: v["values"][i] for k, v in prev["metrics"].items()},
            "stats": {k: v["values"][i] for k, v in prev.get("stats", {}).items()},
            "curve": prev["curves"][monitor][i] if monitor else [], "monitor": monitor}
        if prev.get("streams"):
            out[int(s)]["stream"] = prev["streams"][str(s)]
    return out


__all__ += ["ConfigError", "DatasetKindError"]
