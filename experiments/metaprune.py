r"""Structured pruning: accuracy against FLOPs speed-up for the metanetwork and its baselines.

    python experiments/metaprune.py --dataset mnist --seeds 3
    python experiments/metaprune.py --dataset mnist --table
    python experiments/metaprune.py --dataset mnist --unedited
    python experiments/metaprune.py --dataset mnist --lottery --seeds 2

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
             "| arm | target | speed-up (FLOPs) | latency ratio | accuracy, pruned, before the last fine-tune "
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


def unedited(dataset: str, seed: int = 0) -> dict[str, float]:
    r"""The validation proxy without a metanetwork: the validation data models pruned to each
    speed-up without fine-tuning, scored as ``valid_pruned_acc`` is (seed ``seed``'s
    validation images), from the cached population."""
    from graphcl.methods import get_method
    from graphcl.methods.metaprune import data_model, effective_config
    from graphcl.runner import resolve
    from graphcl.train.metaprune import ImageData, NodeData

    data = resolve(dataset)[1]
    images = isinstance(data, dict)
    cfg = effective_config(dict(get_method("metaprune").defaults), images)
    cache = HERE / dataset / "results" / "metaprune_population"
    n, n_val = cfg["population"], cfg["val_models"]
    _, task = data_model(data, cfg, n + seed, cache)
    side = ImageData(task) if images else NodeData(task)
    out = {}
    for s in SPEEDUPS:
        accs = []
        for k in range(n - n_val, n):
            net = data_model(data, cfg, k, cache)[0]
            side.prune(net, s, "l2")
            accs.append(side.accuracy(net, "valid", cfg["val_images"] if images else None))
        out[f"{s:g}"] = sum(accs) / len(accs)
    return out


LOTTERY = {"rewind": "lottery:rate=0.5", "no-rewind": "lottery:rate=0.5,rewind=false"}


def lottery(dataset: str, seeds: int, rounds: int = 5, run: bool = True) -> str:
    r"""Lottery tickets on ``dataset`` (``graphcl run cnn``, 2 epochs a round, half of the
    remaining weights removed after each round): rewound to the initialisation (iterative
    magnitude pruning with rewinding) or kept (pruning with fine-tuning). Unstructured:
    reported as sparsity, not speed-up. Returns the table."""
    rows = ["| round | sparsity | " + " | ".join(f"{k}: test accuracy" for k in LOTTERY) + " |",
            "|---|---|" + "---|" * len(LOTTERY)]
    accs = {}
    for name, plugin in LOTTERY.items():
        out = HERE / dataset / "results" / f"lottery_{name}.json"
        cmd = ["graphcl", "run", "cnn", "--dataset", dataset, "--seeds", str(seeds),
               "--no-progress", "--set", "epochs=2", "--stream", f"repeat:{rounds}",
               "--plugin", plugin, "--out", str(out.relative_to(HERE.parent))]
        if run:
            print("$", shlex.join(cmd), flush=True)
            exe = Path(sys.executable).parent / "graphcl"
            subprocess.run([str(exe), *cmd[1:]], check=True, cwd=HERE.parent,
                           stderr=subprocess.DEVNULL)
        res = json.loads(out.read_text())
        accs[name] = [[float(m["matrix"][r][r]["test_acc"]) for r in range(rounds)]
                      for m in res["streams"].values()]
    for r in range(rounds):
        cells = []
        for name in LOTTERY:
            m, sd = _stats([seed[r] for seed in accs[name]])
            cells.append(f"{100 * m:.2f} ± {100 * sd:.2f}")
        rows.append(f"| {r} | {100 * (1 - 0.5 ** r):.2f} % | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    ap.add_argument("--table", action="store_true", help="print the table and draw the plot")
    ap.add_argument("--lottery", action="store_true",
                    help="lottery tickets (unstructured) instead; with --table: table only")
    ap.add_argument("--unedited", action="store_true",
                    help="print the validation proxy of the unedited validation data models")
    args = ap.parse_args(argv)
    if args.unedited:
        for s, acc in unedited(args.dataset).items():
            print(f"unedited validation data models pruned to {s}x, no fine-tune: "
                  f"{100 * acc:.2f}")
        return 0
    if args.lottery:
        print(lottery(args.dataset, args.seeds, run=not args.table))
        return 0
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
