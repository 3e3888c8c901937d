r"""Structured pruning: accuracy against FLOPs speed-up for the metanetwork and its baselines.

    python experiments/metaprune.py --dataset mnist --seeds 3
    python experiments/metaprune.py --dataset mnist --table

Runs ``graphcl run metaprune`` (the defaults of ``models/metaprune.yaml``) on a dataset for
several seeds (each seed: its own held-out data model, metanetwork initialisation and
fine-tuning order) at speed-ups 1.5, 2 and 3, and writes
``experiments/<dataset>/results/metaprune.json``; ``--table`` prints the README table (mean ±
std of the test accuracy per arm and speed-up, the measured FLOPs speed-up and CPU latency
ratio) and draws ``metaprune.svg`` (accuracy against speed-up) beside the results. The data
models are cached in ``results/metaprune_population`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEEDUPS = (1.5, 2.0, 3.0)
ARMS = {"metanet": "metanetwork", "magnitude": "magnitude (L1)",
        "depgraph": "DepGraph sparse training"}


def _stats(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def table(path: Path) -> str:
    res = json.loads(path.read_text())
    metrics = res["metrics"]
    base, _ = _stats(metrics["test_acc:base"]["values"])
    n = len(res["seeds"])
    lines = [f"Base (unpruned) test accuracy {100 * base:.2f} ({n} seeds). Command: "
             f"`{res['command']}`", "",
             "| arm | target | speed-up (FLOPs) | latency ratio | accuracy, pruned, no fine-tune "
             "| accuracy after fine-tune | Δ vs base |",
             "|---|---|---|---|---|---|---|"]
    for arm, label in ARMS.items():
        for s in SPEEDUPS:
            tag = f"{arm}@{s:g}"
            if f"test_acc:{tag}" not in metrics:
                continue
            acc, sd = _stats(metrics[f"test_acc:{tag}"]["values"])
            raw, raw_sd = _stats(metrics[f"test_acc_no_finetune:{tag}"]["values"])
            sp, _ = _stats(metrics[f"speedup:{tag}"]["values"])
            lat, lat_sd = _stats(metrics[f"latency_ratio:{tag}"]["values"])
            lines.append(f"| {label} | {s:g}× | {sp:.2f}× | {lat:.2f} ± {lat_sd:.2f} | "
                         f"{100 * raw:.2f} ± {100 * raw_sd:.2f} | {100 * acc:.2f} ± {100 * sd:.2f}"
                         f" | {100 * (acc - base):+.2f} |")
    return "\n".join(lines)


def plot(path: Path) -> Path:
    from graphcl.evaluate.plot import line_chart_svg

    metrics = json.loads(path.read_text())["metrics"]
    series, errors = {}, {}
    for arm, label in ARMS.items():
        pts, errs = [], []
        for s in SPEEDUPS:
            key = f"test_acc:{arm}@{s:g}"
            if key in metrics:
                m, sd = _stats(metrics[key]["values"])
                pts.append((_stats(metrics[f"speedup:{arm}@{s:g}"]["values"])[0], 100 * m))
                errs.append(100 * sd)
        if pts:
            series[label], errors[label] = pts, errs
    return line_chart_svg(series, path.with_suffix(".svg"), errors=errors,
                          title="test accuracy after pruning and fine-tuning",
                          xlabel="FLOPs speed-up", ylabel="test accuracy (%)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    ap.add_argument("--table", action="store_true", help="print the table and draw the plot")
    args = ap.parse_args(argv)
    out = HERE / args.dataset / "results" / "metaprune.json"
    if not args.table:
        out.parent.mkdir(parents=True, exist_ok=True)
        speedups = "[" + ",".join(f"{s:g}" for s in SPEEDUPS) + "]"
        cmd = ["graphcl", "run", "metaprune", "--dataset", args.dataset, "--seeds",
               str(args.seeds), "--no-progress", "--set", f"speedup={speedups}", *args.set,
               "--out", str(out.relative_to(HERE.parent))]
        print("$", shlex.join(cmd), flush=True)
        exe = Path(sys.executable).parent / "graphcl"
        subprocess.run([str(exe), *cmd[1:]], check=True, cwd=HERE.parent,
                       stderr=subprocess.DEVNULL)
    print(table(out))
    print("plot:", plot(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
