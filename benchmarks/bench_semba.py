r"""SEMBA training speed: graphcl's SEMBA vs the authors' released code (``claws-lab/semba``)
on Bitcoin-OTC sign prediction, in one run.

Both arms train SEMBA with the released code's settings (memory 64, time 32, embedding 64, 8
heads, dropout 0.5, Adam lr 0.01, batch 1000) for ``--epochs`` epochs on the chronological
70 % training period (24,915 events in both) with ``--threads`` threads. Reported: training
seconds per epoch (the released code's own ``Time:`` line, which times its training loop
only; graphcl's engine timer around the batch loop), the ratio, and each arm's test AUC (the
released code's test is leaky, ours is not: they are not comparable, only recorded).

The released code is not part of graphcl; pass a checkout with ``--original DIR``. To run on
torch 2.x and PyG 2.8 without ``torch-scatter``/``torch-sparse`` it needs the edits listed in
``experiments/bitcoin-otc/README.md`` (scatter calls through ``torch_geometric.utils.scatter``,
``weights_only=False`` on its own processed file, keyword fixes for scikit-learn and the LR
schedulers, the final test call's arguments) and an environment switch
``SEMBA_DETECT_ANOMALY`` around its ``torch.autograd.set_detect_anomaly(True)``. The
released code's default (anomaly detection on) and the switch off are both timed; the
speed-up is quoted against the faster. Run on an idle machine::

    python benchmarks/bench_semba.py --original /path/to/semba --epochs 3 \
        --out benchmarks/results/bench_semba_otc.json
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from graphcl.data.registry import load
from graphcl.methods import get_method
from graphcl.runner import run_seed
from graphcl.train.checkpoint import write_json_atomic


def original_arm(directory: str, epochs: int, threads: int, anomaly: bool) -> dict:
    r"""Runs the released ``train.py`` and parses its per-epoch ``Time:`` and ``Test`` lines."""
    cmd = [sys.executable, "-u", "train.py", "--model", "semba", "--dataset", "BitcoinOTC-1",
           "--task", "sign_class", "--batch_size", "1000", "--lr_init", "0.01",
           "--num_epochs", str(epochs), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "SEMBA_DETECT_ANOMALY": "1" if anomaly else "0"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the released code failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    secs = [float(x) for x in re.findall(r"^Time: ([\d.]+)$", proc.stdout, re.M)]
    tests = [float(x) for x in re.findall(r"^Test \[Loss: \S+ AUC: ([\d.]+)", proc.stdout, re.M)]
    if len(secs) != epochs or not tests:
        raise RuntimeError("could not parse the released code's 'Time:' / 'Test [...]' lines")
    return {"train_seconds": secs, "test_auc": tests[0], "anomaly_detection": anomaly,
            "wall_seconds": time.perf_counter() - t0,
            "command": f"SEMBA_DETECT_ANOMALY={int(anomaly)} " + " ".join(cmd[1:])}


def graphcl_arm(data, epochs: int) -> dict:
    method = get_method("semba")
    overrides = {"task": "sign", "epochs": epochs, "patience": epochs + 1}
    cfg = method.configure({}, ("bitcoin-otc",), overrides)
    t0 = time.perf_counter()
    out = run_seed(method, data, cfg, 0, progress=False)
    res = out["result"]
    return {"train_seconds": res["stats"]["train_seconds"],
            "events": res["stats"].get("train_examples"),
            "test_auc": out["metrics"]["test_auc"], "test_f1_neg": out["metrics"]["test_f1_neg"],
            "wall_seconds": time.perf_counter() - t0,
            "command": "graphcl run semba --dataset bitcoin-otc "
                       f"--set task=sign epochs={epochs} patience={epochs + 1}"}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", default="", help="checkout of the released code (optional)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load("bitcoin-otc")
    result = {"dataset": "bitcoin-otc", "task": "sign", "threads": args.threads,
              "epochs": args.epochs, "command": "python " + " ".join(sys.argv),
              "load": os.getloadavg()}
    result["graphcl"] = graphcl_arm(data, args.epochs)
    if args.original:
        d = str(Path(args.original).resolve())
        result["original_no_anomaly"] = original_arm(d, args.epochs, args.threads, False)
        result["original"] = original_arm(d, args.epochs, args.threads, True)
        ours = sum(result["graphcl"]["train_seconds"]) / args.epochs
        for key in ("original", "original_no_anomaly"):
            theirs = sum(result[key]["train_seconds"]) / args.epochs
            result[f"speedup_vs_{key}"] = theirs / ours
    result["load_after"] = os.getloadavg()
    if args.out:
        write_json_atomic(Path(args.out), result)
    for k, v in result.items():
        print(f"{k}: {v}")
    return result


if __name__ == "__main__":
    main()
