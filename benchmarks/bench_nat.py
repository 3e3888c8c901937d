r"""NAT training speed and accuracy: graphcl's NAT vs the authors' released code, with graphcl's
TGN on the same split, in one run.

Settings of the released code's README (batch 100, N-caches 32/16, 2 hops, replace probability
0.7, pos_dim 16, self_dim 72, ngh_dim 4, 2 heads, dropout 0.1, lr 1e-4), 3 epochs, on
CollegeMsg (UCI). Both NAT arms train on every training-period event (the released code's
transductive mode; graphcl's arms with ``new_node_ratio=0``) and evaluate with batch 32 (the
released code's fixed evaluation batch); graphcl's TGN trains with its zoo settings for this
dataset (batch 200, lr 1e-3) on the same events.
Reported: training seconds per epoch (the batch loop only), events/s, test AP/AUC, and the
ratio of the released code's seconds per epoch to graphcl's.

The released code (``Graph-COM/Neighborhood-Aware-Temporal-Network``) is not part of graphcl;
pass a checkout with ``--original DIR``. It needs four edits to run with torch 2.x on a CPU:
its two float left shifts (``<< hop``, ``<< 3``) become multiplications by ``2 ** hop`` and 8,
its device is forced to CPU, and its training loop prints ``EPOCH_TRAIN_SECONDS <epoch>
<seconds> <events>`` (a ``time.perf_counter()`` around the batch loop of ``train.py``) and
``main.py`` prints ``TEST_RESULT ... ap=<ap> auc=<auc>`` after testing; CollegeMsg must be
converted to its ``processed/ml_uci.{csv,npy}`` / ``ml_uci_node.npy`` layout (1-based ids in
order of appearance, one zero feature column). Run on an idle machine::

    python benchmarks/bench_nat.py --original /path/to/NAT --threads 2 \
        --out benchmarks/results/bench_nat_uci.json
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

README_SETTINGS = {"batch_size": 100, "n_degree": [32, 16], "replace_prob": 0.7, "pos_dim": 16,
                   "self_dim": 72, "ngh_dim": 4, "heads": 2, "dropout": 0.1, "lr": 1e-4,
                   "eval_batch_size": 32, "mrr_num_neg": 0, "patience": 100,
                   # the released code's transductive mode trains on every training-period
                   # event; TGN's protocol would hold out the new nodes' events (25 % here)
                   "new_node_ratio": 0.0}


def original_arm(directory: str, epochs: int, threads: int) -> dict:
    r"""Runs the released code (``main.py``) and parses its timing and test lines."""
    cmd = [sys.executable, "main.py", "--data", "uci", "--pos_dim", "16", "--bs", "100",
           "--n_degree", "32", "16", "--n_hop", "2", "--mode", "t", "--bias", "1e-5",
           "--seed", "2", "--drop_out", "0.1", "--attn_n_head", "2", "--ngh_dim", "4",
           "--self_dim", "72", "--replace_prob", "0.7", "--run", "1", "--n_epoch", str(epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the released code failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    epochs_s = [float(m.group(2)) for m in
                re.finditer(r"^EPOCH_TRAIN_SECONDS (\d+) ([\d.]+) (\d+)$", proc.stdout, re.M)]
    events = [int(m.group(3)) for m in
              re.finditer(r"^EPOCH_TRAIN_SECONDS (\d+) ([\d.]+) (\d+)$", proc.stdout, re.M)]
    test = re.search(r"^TEST_RESULT .* ap=(\S+) auc=(\S+)", proc.stdout, re.M)
    if not epochs_s or test is None:
        raise RuntimeError("could not parse the released code's EPOCH_TRAIN_SECONDS / "
                           "TEST_RESULT lines (see the module docstring)")
    return {"train_seconds": epochs_s, "events": events[0],
            "events_per_s": events[0] / min(epochs_s), "test_ap": float(test.group(1)),
            "test_auc": float(test.group(2)), "wall_seconds": time.perf_counter() - t0,
            "command": " ".join(cmd)}


def graphcl_arm(name: str, data, overrides: dict) -> dict:
    method = get_method(name)
    cfg = method.configure({}, ("collegemsg",), overrides)
    t0 = time.perf_counter()
    out = run_seed(method, data, cfg, 0, progress=False)
    res = out["result"]
    secs = res["stats"]["train_seconds"]
    n = res["stats"].get("train_examples") or 0
    return {"train_seconds": secs, "events": n, "events_per_s": (n / min(secs)) if n else None,
            "test_ap": out["metrics"]["test_ap"], "test_auc": out["metrics"]["test_auc"],
            "wall_seconds": time.perf_counter() - t0, "config": overrides}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", default="", help="checkout of the released code (optional)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load("collegemsg")
    result = {"dataset": "collegemsg", "threads": args.threads, "epochs": args.epochs,
              "command": "python " + " ".join(sys.argv), "load": os.getloadavg()}
    if args.original:
        result["original"] = original_arm(str(Path(args.original).resolve()), args.epochs,
                                          args.threads)
    result["graphcl_nat"] = graphcl_arm("nat", data, {**README_SETTINGS, "epochs": args.epochs})
    result["graphcl_tgn"] = graphcl_arm("tgn", data, {"epochs": 1, "mrr_num_neg": 0,
                                                      "new_node_ratio": 0.0})
    nat = min(result["graphcl_nat"]["train_seconds"])
    result["nat_vs_tgn_epoch"] = min(result["graphcl_tgn"]["train_seconds"]) / nat
    if args.original:
        result["speedup_vs_original"] = min(result["original"]["train_seconds"]) / nat
    result["load_after"] = os.getloadavg()
    if args.out:
        write_json_atomic(Path(args.out), result)
    for k, v in result.items():
        print(f"{k}: {v}")
    return result


if __name__ == "__main__":
    main()
