r"""Continual node classification on a graph: every strategy, one scenario, several seeds.

    python experiments/continual.py --dataset cora --scenario class-il --seeds 0 1 2 3 4
    python experiments/continual.py --dataset cora --scenario class-il --table

A GCN (``graphcl run gnn``, a random 60/20/20 node split per seed) learns the classes in
groups of two (Cora: 2+2+2+1, CiteSeer: 2+2+2), CGLB's class-incremental (``class-il``:
one head over every class seen so far) or task-incremental (``task-il``: each task's own
classes) scenario, with inter-task edges. Each strategy's results go to
``experiments/<dataset>/results/continual-<scenario>/<strategy>.json`` with its command;
``--table`` prints the README table and writes the mean accuracy matrix of each strategy
as an SVG beside the results.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# strategy -> (plugins, stream options); the hyper-parameters are CGLB's / Avalanche's defaults
STRATEGIES = {
    "naive": ([], ""),
    "joint": ([], ",cumulative=true"),
    "replay": (["replay:mem_size=200"], ""),
    "ewc": (["ewc:ewc_lambda=10000"], ""),
    "lwf": (["lwf:alpha=1,temperature=2"], ""),
}
SCENARIOS = {"class-il": "class-incremental", "task-il": "task-incremental"}
TASKS = {"cora": 4, "citeseer": 3}  # groups of two classes, the last one smaller
SETTINGS = {"split": "random", "epochs": 200, "patience": 50}


def _fmt(vals, scale=100.0, digits=1):
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return "—"
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return f"{mean * scale:.{digits}f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def table(folder: Path, files=None) -> str:
    rows = ["| strategy | AA (%) | AF (%) ↓ | BWT (%) | FWT (%) | seeds |",
            "|---|---|---|---|---|---|"]
    for s in files or STRATEGIES:
        f = folder / f"{s}.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        M = r["metrics"]
        rows.append(f"| {s} | {_fmt(M['avg_acc']['values'])} | "
                    f"{_fmt(M['forgetting']['values'])} | {_fmt(M['bwt']['values'])} | "
                    f"{_fmt(M['fwt']['values'])} | {len(r['seeds'])} |")
    return "\n".join(rows)


def matrices(folder: Path, files=None) -> list[Path]:
    r"""The seed-mean accuracy matrix of each strategy as ``<strategy>-matrix.svg``."""
    import torch

    from graphcl.evaluate.continual import metric_matrix
    from graphcl.evaluate.plot import metric_matrix_svg

    out = []
    for s in files or STRATEGIES:
        f = folder / f"{s}.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        mats = [metric_matrix(v["matrix"], v["key"]) for v in r["streams"].values()]
        mean = torch.stack(mats).mean(0) * 100
        out.append(metric_matrix_svg(mean, folder / f"{s}-matrix.svg",
                                     title=f"{r['dataset']} {folder.name}: {s}, accuracy (%) "
                                           f"after each experience, {len(mats)} seeds"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="class-il")
    p.add_argument("--tasks", type=int, help="experiences (default: Cora 4, CiteSeer 3)")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--plugin", action="append", default=[], metavar="NAME[:k=v]",
                   help="replace the strategy's plugins (ablations; name the file with --name)")
    p.add_argument("--name", help="result file name (default: the strategy)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--table", action="store_true", help="print the table from the files")
    p.add_argument("--files", nargs="+", help="with --table: these result names")
    p.add_argument("--out", help="results folder (default: experiments/<dataset>/results/"
                   "continual-<scenario>)")
    args = p.parse_args(argv)
    folder = Path(args.out) if args.out else \
        HERE / args.dataset / "results" / f"continual-{args.scenario}"
    sys.path.insert(0, str(HERE.parent))
    if args.table:
        print(table(folder, args.files))
        for path in matrices(folder, args.files):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    from graphcl.config import parse_set
    from graphcl.runner import run_experiment

    tasks = args.tasks or TASKS.get(args.dataset)
    if tasks is None:
        p.error(f"--tasks is needed for dataset {args.dataset!r}")
    over = {**SETTINGS, **parse_set(args.set)}
    rel = folder.relative_to(HERE.parent) if folder.is_relative_to(HERE.parent) else folder
    for s in args.strategies:
        plugins, opts = STRATEGIES[s]
        plugins = args.plugin or plugins
        stream = f"{SCENARIOS[args.scenario]}:{tasks}{opts}"
        name = args.name or s
        cmd = (f"graphcl run gnn --dataset {args.dataset} --seed-list "
               f"{','.join(map(str, args.seeds))} --stream {stream} --set "
               + " ".join(f"{k}={v}" for k, v in over.items())
               + "".join(f" --plugin {pl}" for pl in plugins) + f" --out {rel}/{name}.json")
        print(f"== {name}: {cmd}", file=sys.stderr, flush=True)
        run_experiment("gnn", args.dataset, seeds=args.seeds, overrides=over, plugins=plugins,
                       stream=stream, out=folder / f"{name}.json", progress=False,
                       command=cmd + f"  # via {shlex.join(['python', *sys.argv])}")
    print(table(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
