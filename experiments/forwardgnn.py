r"""ForwardGNN's protocol on an attributed graph: the greedy variants (one 4-layer run records
depths 1-4) and the back-propagation baseline (one run per depth) on the authors' 5 splits.

Each run is the ``graphcl run forwardgnn ...`` command printed before it, writing
``experiments/<dataset>/results/forwardgnn/<config>.json`` (a killed run resumes); ``--table``
prints the markdown table (test accuracy or ROC-AUC in %, mean ± std over the splits, per
depth) from those files.

Examples::

    python experiments/forwardgnn.py --dataset cora-ml --configs sf bp
    python experiments/forwardgnn.py --dataset cora-ml --configs link-ce link-ff link-bp
    python experiments/forwardgnn.py --dataset cora-ml --table
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEPTHS = (1, 2, 3, 4)
DEEP = (1, 2, 4, 8, 16)
# config -> (overrides, greedy depth: one run records depths 1..L, or None: one run per depth,
# the depths run)
CONFIGS: dict[str, tuple[list[str], int | None, tuple[int, ...]]] = {
    "sf": (["variant=sf"], 4, DEPTHS),
    "ff-la": (["variant=ff-la"], 4, DEPTHS),
    "ff-vn": (["variant=ff-vn"], 4, DEPTHS),
    "bp": (["variant=bp"], None, DEPTHS),
    "sf-top2input": (["variant=sf-top2input"], None, (2,)),
    "sf-top2loss": (["variant=sf-top2loss"], None, (2,)),
    "sf-sage": (["variant=sf", "conv=sage"], 4, DEPTHS),
    "bp-sage": (["variant=bp", "conv=sage"], None, DEPTHS),
    "sf-gat": (["variant=sf", "conv=gat"], 4, DEPTHS),
    "bp-gat": (["variant=bp", "conv=gat"], None, DEPTHS),
    "link-ce": (["task=link", "variant=ce"], 4, DEPTHS),
    "link-ff": (["task=link", "variant=ff"], 4, DEPTHS),
    "link-td": (["task=link", "variant=ce-top2input"], None, (2,)),
    "link-bp": (["task=link", "variant=bp"], None, DEPTHS),
    "sf-deep": (["variant=sf"], 16, DEEP),
    "bp-deep": (["variant=bp"], None, (8, 16)),
}


def _out(dataset: str, config: str, depth: int | None) -> Path:
    name = config if depth is None else f"{config}-l{depth}"
    return ROOT / dataset / "results" / "forwardgnn" / f"{name}.json"


def runs(dataset: str, config: str, seeds: int, extra: list[str]) -> list[list[str]]:
    overrides, greedy, depths = CONFIGS[config]
    cmds = []
    for d in ([None] if greedy else depths):
        layers = greedy if d is None else d
        out = _out(dataset, config, d).relative_to(ROOT.parent)
        cmds.append(["graphcl", "run", "forwardgnn", "--dataset", dataset, "--seeds",
                     str(seeds), "--set", *overrides, f"num_layers={layers}", *extra,
                     "--out", str(out)])
    return cmds


def _record(dataset: str, config: str, d: int) -> tuple[dict | None, str]:
    r"""The result file holding depth ``d`` of ``config`` and the key suffix of its metrics."""
    _, greedy, _ = CONFIGS[config]
    path = _out(dataset, config, None if greedy else d)
    if not path.exists():
        return None, ""
    return json.loads(path.read_text()), (f"_l{d}" if greedy else "")


def _cell(v: dict | None) -> str:
    if v is None:
        return "–"
    if v["std"] is None:
        return f"{100 * v['mean']:.2f}"
    return f"{100 * v['mean']:.2f} ± {100 * v['std']:.2f}"


def table(dataset: str, configs: list[str], depths: tuple[int, ...] = DEPTHS) -> str:
    lines = ["| config | " + " | ".join(f"{d} layer{'s' * (d > 1)}" for d in depths)
             + " | s/step | seeds |", "|---" * (len(depths) + 3) + "|"]
    for config in configs:
        cells, secs, seeds = [], [], 0
        for d in depths:
            res, suffix = _record(dataset, config, d)
            if res is None or d not in CONFIGS[config][2]:
                cells.append("–")
                continue
            metric = "acc" if "test_acc" in res["metrics"] else "auc"
            cells.append(_cell(res["metrics"].get(f"test_{metric}{suffix}")))
            st = res["stats"]
            secs.append((st.get("train_s_per_step") or st["train_s_per_epoch"])["mean"])
            seeds = len(res["seeds"])
        sec = f"{1000 * sum(secs) / len(secs):.1f} ms" if secs else "–"
        lines.append(f"| {config} | " + " | ".join(cells) + f" | {sec} | {seeds} |")
    return "\n".join(lines)


def depth_sweep(dataset: str) -> str:
    r"""Accuracy and peak training memory of a step against depth, SF (one greedy 16-layer
    run: a depth's memory is the largest of its layers') and BP (one run per depth); writes
    ``results/forwardgnn/depth-memory.svg`` and returns the markdown table."""
    from graphcl.evaluate.plot import line_chart_svg

    rows, mem = [], {"SF": [], "BP": []}
    for d in DEEP:
        sf, _ = _record(dataset, "sf-deep", d)
        bp, _ = _record(dataset, "bp" if d in DEPTHS else "bp-deep", d)
        cells = [f"| {d} |"]
        if sf is not None:
            m = max(sf["stats"][f"train_memory_mib_l{k}"]["mean"] for k in range(1, d + 1))
            mem["SF"].append((d, m))
            cells.append(f" {_cell(sf['metrics'].get(f'test_acc_l{d}'))} | {m:.2f} |")
        else:
            cells.append(" – | – |")
        if bp is not None and "train_memory_mib" in bp["stats"]:
            m = bp["stats"]["train_memory_mib"]["mean"]
            mem["BP"].append((d, m))
            cells.append(f" {_cell(bp['metrics'].get('test_acc'))} | {m:.2f} |")
        else:
            cells.append(" – | – |")
        rows.append("".join(cells))
    series = {k: v for k, v in mem.items() if v}
    if series:
        line_chart_svg(series, ROOT / dataset / "results" / "forwardgnn" / "depth-memory.svg",
                       title=f"peak training memory of a step, {dataset}", xlabel="layers",
                       ylabel="MiB", log_x=True)
    head = ["| layers | SF test acc | SF MiB | BP test acc | BP MiB |", "|---|---|---|---|---|"]
    return "\n".join(head + rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cora-ml")
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["sf", "bp"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra config overrides for every run")
    p.add_argument("--table", action="store_true", help="print the table from the result files")
    p.add_argument("--depth-sweep", action="store_true",
                   help="print the depth table (sf-deep, bp, bp-deep) and draw the memory plot")
    args = p.parse_args(argv)
    if args.depth_sweep:
        print(depth_sweep(args.dataset))
        return 0
    if not args.table:
        graphcl = Path(sys.executable).with_name("graphcl")
        for config in args.configs:
            for cmd in runs(args.dataset, config, args.seeds, args.set):
                print("$", shlex.join(cmd), flush=True)
                subprocess.run([str(graphcl), *cmd[1:]], check=True, cwd=ROOT.parent,
                               stdout=subprocess.DEVNULL)
    print(table(args.dataset, args.configs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
