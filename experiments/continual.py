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

Studies: ``class-il``, ``task-il`` (adds the supermask and hypernetwork strategies, which need
the task identity) and ``task-il-unlearn`` (learn tasks 0 and 1, forget task 0 with the
hypernetwork's data-free unlearning or gradient ascent, learn two more; ``retrain`` is the
stream without task 0); ``time-window`` trains TGN (``graphcl run tgn``, the dataset's
config, 5 epochs per window, patience 2) on five windows of an event stream, the memory
carried over, with naive training, event replay and joint (cumulative) training; each
window's last 15 % of events are its test events (AP against one random negative).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# study -> stream, strategies: name -> (plugins, stream options). Hyper-parameters: CGLB's
# (EWC memory strength 10^4) and Avalanche's defaults (replay 200 examples, LwF alpha 1, T 2),
# the hypernetwork paper's beta 0.01, WSN's 50 % subnetworks
STRATEGIES = {
    "naive": ([], ""),
    "joint": ([], ",cumulative=true"),
    "replay": (["replay:mem_size=200"], ""),
    "ewc": (["ewc:ewc_lambda=10000"], ""),
    "lwf": (["lwf:alpha=1,temperature=2"], ""),
}
TASK_ONLY = {
    "supermask": (["supermask:sparsity=0.5"], ""),
    "hypernetwork": (["hypernetwork"], ""),
}
UNLEARN = {  # learn tasks 0 and 1, forget task 0, learn two more
    "hypernetwork": (["hypernetwork"], ",unlearn=0@1"),
    "grad_ascent": ([], ",unlearn=0@1,unlearn_epochs=10"),
    "replay+grad_ascent": (["replay:mem_size=200"], ",unlearn=0@1,unlearn_epochs=10"),
    "retrain": (["hypernetwork"], "RETRAIN"),  # the same stream without task 0
}
WINDOWS = {  # TGN on time windows of an event stream; an event buffer replayed 200 per step
    "naive": ([], ""),
    "joint": ([], ",cumulative=true"),
    "replay": (["replay:mem_size=1000,batch_size_mem=200"], ""),
}
STUDIES = {
    "class-il": ("class-incremental", STRATEGIES),
    "task-il": ("task-incremental", {**STRATEGIES, **TASK_ONLY}),
    "task-il-unlearn": ("task-incremental", UNLEARN),
    "time-window": ("time-window", WINDOWS),
}
SCENARIOS = STUDIES  # the command-line name
TASKS = {"cora": 4, "citeseer": 3}  # groups of two classes, the last one smaller
WINDOW_COUNT = 5
SETTINGS = {"split": "random", "epochs": 200, "patience": 50}
WINDOW_SETTINGS = {"epochs": 5, "patience": 2}


def _groups(n_classes: int, tasks: int) -> list[list[int]]:
    import torch

    return [c.tolist() for c in torch.arange(n_classes).tensor_split(tasks)]


def _fmt(vals, scale=100.0, digits=1):
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return "—"
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return f"{mean * scale:.{digits}f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def _results(folder: Path, names):
    r"""``(name, results dict)`` of each ``<name>.json`` present in ``folder``."""
    for name in names:
        f = folder / f"{name}.json"
        if f.is_file():
            yield name, json.loads(f.read_text())


def unlearn_table(folder: Path, files=None) -> str:
    rows = ["| strategy | task 0 before (%) | after unlearning | final | relapse | retained "
            "drop | retained AA (%) | seeds |", "|---|---|---|---|---|---|---|---|"]
    for s, r in _results(folder, files or UNLEARN):
        M = r["metrics"]
        if "relapse" not in M:  # the retrain reference never learnt task 0
            rows.append(f"| {s} | never learnt | — | — | — | — | {_fmt(M['avg_acc']['values'])}"
                        f" | {len(r['seeds'])} |")
            continue
        cells = [_fmt(M[k]["values"]) for k in ("forgotten_acc_before", "forgotten_acc_after",
                                                  "forgotten_acc_final", "relapse",
                                                  "retained_drop", "retained_avg_acc")]
        rows.append(f"| {s} | " + " | ".join(cells) + f" | {len(r['seeds'])} |")
    return "\n".join(rows)


def table(folder: Path, files=None) -> str:
    if folder.name.endswith("-unlearn"):
        return unlearn_table(folder, files)
    rows = ["| strategy | average (%) | AF (%) ↓ | BWT (%) | FWT (%) | seeds |",
            "|---|---|---|---|---|---|"]
    for s, r in _results(folder, files or {**STRATEGIES, **TASK_ONLY, **WINDOWS}):
        M = r["metrics"]
        avg = next(k for k in M if k.startswith("avg_"))
        fwt = "—" if "class-incremental" in r["stream"] else _fmt(M["fwt"]["values"])
        rows.append(f"| {s} | {_fmt(M[avg]['values'])} | "
                    f"{_fmt(M['forgetting']['values'])} | {_fmt(M['bwt']['values'])} | "
                    f"{fwt} | {len(r['seeds'])} |")
    return "\n".join(rows)


def matrices(folder: Path, files=None) -> list[Path]:
    r"""The seed-mean accuracy matrix of each strategy as ``<strategy>-matrix.svg``."""
    import torch

    from graphcl.evaluate.continual import metric_matrix
    from graphcl.evaluate.plot import metric_matrix_svg

    out = []
    for s, r in _results(folder, files or {**STRATEGIES, **TASK_ONLY, **UNLEARN}):
        mats = [metric_matrix(v["matrix"], v["key"]) for v in r["streams"].values()]
        mean = torch.stack(mats).mean(0) * 100
        what = next(iter(r["streams"].values()))["key"].split("_", 1)[1].upper()
        out.append(metric_matrix_svg(mean, folder / f"{s}-matrix.svg",
                                     title=f"{r['dataset']} {folder.name}: {s}, {what} (%) "
                                           f"after each experience, {len(mats)} seeds"))
    return out


def curves(folder: Path, files=None) -> Path | None:
    r"""Learning curves: the metric averaged over the experiences seen so far, after each
    experience (seed mean ± std), one line per strategy, as ``curves.svg``."""
    import torch

    from graphcl.evaluate.continual import metric_matrix
    from graphcl.evaluate.plot import line_chart_svg

    series, errors, what = {}, {}, "metric"
    names = [] if folder.name.endswith("-unlearn") else files or {**STRATEGIES, **TASK_ONLY,
                                                                   **WINDOWS}
    for s, r in _results(folder, names):
        what = next(iter(r["streams"].values()))["key"].split("_", 1)[1].upper()
        seen = torch.stack([torch.stack([m[i, : i + 1].mean() for i in range(m.size(0))])
                            for m in (metric_matrix(v["matrix"], v["key"])
                                      for v in r["streams"].values())]) * 100
        series[s] = list(enumerate(seen.mean(0).tolist()))
        errors[s] = (seen.std(0) if seen.size(0) > 1 else torch.zeros(seen.size(1))).tolist()
    if not series:
        return None
    return line_chart_svg(series, folder / "curves.svg", errors=errors,
                          title=f"{folder.parent.parent.name} {folder.name}",
                          xlabel="after experience", ylabel=f"{what} on the experiences seen (%)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="class-il")
    p.add_argument("--tasks", type=int, help="experiences (default: Cora 4, CiteSeer 3)")
    p.add_argument("--strategies", nargs="+", help="default: every strategy of the study")
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
        # the learning curves always show every strategy of the folder (not a --files subset)
        for path in [*matrices(folder, args.files), curves(folder)]:
            if path is not None:
                print(f"wrote {path}", file=sys.stderr)
        return 0
    from graphcl.config import parse_set
    from graphcl.runner import run_experiment

    windows = args.scenario == "time-window"
    tasks = args.tasks or (WINDOW_COUNT if windows else TASKS.get(args.dataset))
    if tasks is None:
        p.error(f"--tasks is needed for dataset {args.dataset!r}")
    method = "tgn" if windows else "gnn"
    kind, strategies = STUDIES[args.scenario]
    bad = sorted(set(args.strategies or []) - set(strategies))
    if bad:
        p.error(f"unknown strategies {bad} for {args.scenario}; known: {sorted(strategies)}")
    over = {**(WINDOW_SETTINGS if windows else SETTINGS), **parse_set(args.set)}
    rel = folder.relative_to(HERE.parent) if folder.is_relative_to(HERE.parent) else folder
    n_classes = {"cora": 7, "citeseer": 6}.get(args.dataset)
    for s in args.strategies or strategies:
        plugins, opts = strategies[s]
        plugins = args.plugin or plugins
        if args.scenario == "task-il-unlearn":
            if n_classes is None:
                p.error("task-il-unlearn knows the classes of cora and citeseer only")
            groups = _groups(n_classes, tasks)
            if opts == "RETRAIN":
                groups, opts = groups[1:], ""
            spec = "/".join("-".join(map(str, g)) for g in groups)
            stream = f"{kind}:{spec}{opts}"
        else:
            stream = f"{kind}:{tasks}{opts}"
        name = args.name or s
        cmd = (f"graphcl run {method} --dataset {args.dataset} --seed-list "
               f"{','.join(map(str, args.seeds))} --stream {stream} --set "
               + " ".join(f"{k}={v}" for k, v in over.items())
               + "".join(f" --plugin {pl}" for pl in plugins) + f" --out {rel}/{name}.json")
        print(f"== {name}: {cmd}", file=sys.stderr, flush=True)
        run_experiment(method, args.dataset, seeds=args.seeds, overrides=over, plugins=plugins,
                       stream=stream, out=folder / f"{name}.json", progress=False,
                       command=cmd + f"  # via {shlex.join(['python', *sys.argv])}")
    print(table(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
