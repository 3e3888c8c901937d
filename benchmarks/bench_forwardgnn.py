r"""ForwardGNN training speed and accuracy: graphcl vs the authors' released code
(``facebookresearch/forwardgnn``), every variant side by side in one run.

Both arms train a 2-layer GCN (hidden 128, Adam lr 1e-3 with weight decay 5e-4, validation every
2 steps, patience 100 checks, up to ``--epochs`` steps per layer) on split 0 of the authors'
64/16/20 protocol (graphcl's ``kfold_node_split`` reproduces the authors' node splits; link
prediction draws its own edge split in each arm, same protocol), with ``--threads`` threads,
one arm after the other per variant. Reported per variant: seconds per training step (one
layer-local step, one end-to-end step for BP, one time step of every layer for the top-down
variants; each layer's first step left out), the
speed-up, and the test accuracy / ROC-AUC of each arm at its early stop.

The released code is not part of graphcl. ``--original DIR`` points at a scratch copy prepared
to run offline on torch 2.13 and PyG 2.8 (see ``experiments/cora-ml/README.md``): a launcher
``run_orig.py forward|backprop ARGS`` that stubs the two optional cached convolutions (they
import ``torch_sparse``), loads the split files with ``weights_only=False`` (its own pickles),
reads the local Planetoid/CitationFull copies, and a timer around each layer's training step
enabled by ``FGNN_STEP_TIMING=1`` that writes ``FGNN_STEP_TIMING_OUT`` (JSON: per tag
``steps_s``). Run on an idle machine::

    python benchmarks/bench_forwardgnn.py --original /path/to/forwardgnn-scratch --dataset cora \
        --out benchmarks/results/bench_forwardgnn_cora.json
    python benchmarks/bench_forwardgnn.py --original /path/to/forwardgnn-scratch --dataset cora \
        --variants sf-top2input sf-top2loss link-td --epochs 100 \
        --out benchmarks/results/bench_forwardgnn_cora_topdown.json

(the top-down variants' inference sweeps the whole stack ten times at every validation check in
both arms, so they are compared on a budget of 100 time steps.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from graphcl.data.registry import load
from graphcl.methods import get_method
from graphcl.runner import run_seed
from graphcl.train.checkpoint import write_json_atomic

ORIGINAL_NAMES = {"cora": "Planetoid-Cora", "citeseer": "Planetoid-CiteSeer",
                  "cora-ml": "CitationFull-Cora_ML"}
# variant -> (graphcl overrides, original entry point, original flags)
VARIANTS = {
    "bp": ({"variant": "bp"}, "backprop", ["--task", "node-class", "--model", "GNN-GCN"]),
    "sf": ({"variant": "sf"}, "forward",
           ["--task", "node-class", "--model", "GNN_SingleForward-GCN", "--append-label", "none",
            "--aug-edge-direction", "bidirection"]),
    "ff-la": ({"variant": "ff-la"}, "forward",
              ["--task", "node-class", "--model", "GNN_LA-GCN", "--loss-fn-name",
               "forwardforward_loss_fn", "--num-negs", "100", "--append-label", "input"]),
    "ff-vn": ({"variant": "ff-vn"}, "forward",
              ["--task", "node-class", "--model", "GNN_VNLA-GCN", "--loss-fn-name",
               "forwardforward_loss_fn", "--num-negs", "100", "--append-label", "none",
               "--aug-edge-direction", "bidirection"]),
    "sf-top2input": ({"variant": "sf-top2input"}, "forward",
                     ["--task", "node-class", "--model", "GNN_Top2Input_SingleForward-GCN",
                      "--append-label", "none", "--alternating-update", "--aug-edge-direction",
                      "bidirection"]),
    "sf-top2loss": ({"variant": "sf-top2loss"}, "forward",
                    ["--task", "node-class", "--model", "GNN_Top2Loss_SingleForward-GCN",
                     "--append-label", "none", "--aug-edge-direction", "bidirection"]),
    "link-td": ({"task": "link", "variant": "ce-top2input"}, "forward",
                ["--task", "link-pred", "--model", "GNN_FL-CE-TopDown-GCN",
                 "--alternating-update"]),
    "link-bp": ({"task": "link", "variant": "bp"}, "backprop",
                ["--task", "link-pred", "--model", "GNN-GCN"]),
    "link-ce": ({"task": "link", "variant": "ce"}, "forward",
                ["--task", "link-pred", "--model", "GNN_FL-CE-GCN"]),
    "link-ff": ({"task": "link", "variant": "ff"}, "forward",
                ["--task", "link-pred", "--model", "GNN_FL-FF-GCN"]),
}


def _per_step(steps: dict) -> float:
    r"""Mean seconds per step over every tag (layer), each tag's first step left out."""
    times = [s for tag in steps.values() for s in tag["steps_s"][1:]]
    return sum(times) / len(times)


def original_arm(directory: str, dataset: str, variant: str, epochs: int, threads: int) -> dict:
    _, entry, flags = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as tmp:
        timing = Path(tmp) / "steps.json"
        cmd = [sys.executable, "run_orig.py", entry, "--exp-setting", "bench", "--dataset",
               ORIGINAL_NAMES[dataset], "--num-runs", "1", "--seed", "100", "--epochs",
               str(epochs), "--val-every", "2", "--lr", "0.001", "--patience", "100",
               "--num-hidden", "128", "--num-layers", "2", "--gpu", "-1",
               "--overwrite-result", *flags]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "FGNN_STEP_TIMING": "1", "FGNN_STEP_TIMING_OUT": str(timing)}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True,
                              check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"the released code failed on {variant}:\n{proc.stderr[-2000:]}")
        steps = json.loads(timing.read_text())
    perf = re.findall(r"Test Performance \(1 runs\): ([\d.]+)%", proc.stdout)
    if not perf:
        raise RuntimeError(f"no 'Test Performance' line from the released code on {variant}")
    value = float(perf[-1])
    if entry == "backprop" or variant.startswith("link"):
        value *= 100  # BP prints a fraction and link prediction an AUC, both with a '%'
    return {"s_per_step": _per_step(steps), "steps": sum(t["n_steps"] for t in steps.values()),
            "test": value, "wall_seconds": wall, "command": " ".join(cmd[1:])}


def graphcl_arm(data, dataset: str, variant: str, epochs: int) -> dict:
    method = get_method("forwardgnn")
    cfg = method.configure({}, (dataset,), {**VARIANTS[variant][0], "num_layers": 2,
                                            "epochs": epochs})
    t0 = time.perf_counter()
    out = run_seed(method, data, cfg, 0, progress=False)
    metric = "test_auc" if variant.startswith("link") else "test_acc"
    stats = out["stats"]
    return {"s_per_step": stats["train_s_per_step"],
            "steps": sum(v for k, v in stats.items() if k.startswith("steps_l"))
            or stats["epochs"], "test": 100 * out["metrics"][metric],
            "wall_seconds": time.perf_counter() - t0,
            "command": f"graphcl run forwardgnn --dataset {dataset} --set "
                       + " ".join(f"{k}={v}" for k, v in VARIANTS[variant][0].items())
                       + f" epochs={epochs}"}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", default="", help="scratch copy of the released code")
    p.add_argument("--dataset", default="cora", choices=sorted(ORIGINAL_NAMES))
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                   default=[v for v in VARIANTS if "top2" not in v and v != "link-td"])
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load(args.dataset)
    result: dict = {"dataset": args.dataset, "threads": args.threads, "epochs": args.epochs,
                    "command": "python " + " ".join(sys.argv), "load": os.getloadavg(),
                    "variants": {}}
    for v in args.variants:
        row = {"graphcl": graphcl_arm(data, args.dataset, v, args.epochs)}
        if args.original:
            row["original"] = original_arm(str(Path(args.original).resolve()), args.dataset, v,
                                           args.epochs, args.threads)
            row["speedup"] = row["original"]["s_per_step"] / row["graphcl"]["s_per_step"]
        result["variants"][v] = row
        print(v, {k: (round(x["s_per_step"] * 1000, 2), round(x["test"], 2))
                  if isinstance(x, dict) else round(x, 2) for k, x in row.items()}, flush=True)
    result["load_after"] = os.getloadavg()
    if args.out:
        write_json_atomic(Path(args.out), result)
    return result


if __name__ == "__main__":
    main()
