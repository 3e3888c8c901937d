r"""Engine overhead: a training epoch through :class:`graphcl.train.Engine` (hooks, timing,
progress plugins off, loss bookkeeping) vs the bare loop over the same task, model and
optimiser (zero_grad, loss, backward, step, the task's after-update) — what the method-specific
loops did before every method moved onto the engine.

The two arms alternate epoch by epoch on one model (so load changes hit both alike); the
report gives each arm's median and best epoch and the ratio engine / bare (1.00 = no
overhead). Workloads: NCNC on Cora with the authors' flags, TGN on Wikipedia (no features)
with the zoo defaults. Run on an idle machine::

    python benchmarks/bench_engine.py --repeats 5 --threads 2 --out benchmarks/results/bench_engine.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from graphcl.config import read_config
from graphcl.data import load
from graphcl.methods import get_method
from graphcl.train.checkpoint import write_json_atomic
from graphcl.train.engine import Engine

WORKLOADS = {"ncnc-cora": ("ncnc", "cora", {}), "tgn-wikipedia": ("tgn", "wikipedia-nofeat", {})}


def bare_epoch(setup) -> float:
    r"""The loop without the engine: what the replaced per-method loops ran."""
    task, model, opt = setup.task, setup.model, setup.optimizer
    t0 = time.perf_counter()
    model.train()
    if hasattr(task, "on_epoch_start"):
        task.on_epoch_start(_Shim(model))
    shim = _Shim(model)
    for batch in task.train_batches(shim):
        opt.zero_grad(set_to_none=True)
        loss = task.training_loss(shim, batch)
        loss.backward()
        opt.step()
        if hasattr(task, "after_update"):
            task.after_update(shim, batch)
    return time.perf_counter() - t0


class _Shim:
    def __init__(self, model):
        self.model = model


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--repeats", type=int, default=5, help="epochs per arm (alternating)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
              "command": "python " + " ".join([os.path.relpath(__file__), *sys.argv[1:]]),
              "workloads": {}}
    for name in args.workloads:
        method, dataset, over = WORKLOADS[name]
        m = get_method(method)
        cfg = m.configure(read_config(m.config_path()), (dataset,), over)
        torch.manual_seed(0)
        setup = m.build(load(dataset), cfg, 0)
        eng = Engine(setup.model, setup.optimizer, progress=False, **setup.engine)
        eng.train_epoch(setup.task)  # untimed warm-up
        bare_epoch(setup)  # and of the bare arm
        engine_s, bare_s = [], []
        for _ in range(args.repeats):
            eng.train_epoch(setup.task)
            engine_s.append(eng.stats["train_seconds"][-1])
            bare_s.append(bare_epoch(setup))
        row = {"engine_s": engine_s, "bare_s": bare_s,
               "engine_median": statistics.median(engine_s), "bare_median": statistics.median(bare_s),
               "engine_min": min(engine_s), "bare_min": min(bare_s)}
        row["ratio_median"] = row["engine_median"] / row["bare_median"]
        row["ratio_min"] = row["engine_min"] / row["bare_min"]
        result["workloads"][name] = row
        print(f"{name}: engine {row['engine_median']:.3f} s, bare {row['bare_median']:.3f} s "
              f"(median of {args.repeats}); engine/bare {row['ratio_median']:.3f} (median), "
              f"{row['ratio_min']:.3f} (best)", flush=True)
    if args.out:
        write_json_atomic(Path(args.out), result)
    return result


if __name__ == "__main__":
    main()
