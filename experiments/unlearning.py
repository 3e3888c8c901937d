r"""Graph unlearning on the GNNDelete protocol: every method, one setting, several seeds.

    python experiments/unlearning.py --dataset cora --setting in100 --seeds 42 21 13 87 100
    python experiments/unlearning.py --dataset cora --setting in100 --table

Each method's results go to ``experiments/<dataset>/results/unlearning-<setting>/<method>.json``
(``graphcl run <method>`` with the setting's ``--set`` values; the same command is recorded
in each file). The original model, the retrain reference and the membership attack are
trained once per seed and cached beside them (``unlearning-cache/``, not committed), so
every method of a setting is read against the same references. ``--table`` prints the
markdown table of the dataset README from the files.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = ["retrain", "grad_ascent", "gnndelete", "d2dgn", "ssd", "analytic"]
SETTINGS = {  # GNNDelete's edge deletion in/out of the test edges' 2-hop neighbourhood, node
    "in100": {"unlearn.kind": "edge", "unlearn.size": 100, "unlearn.where": "in"},
    "out100": {"unlearn.kind": "edge", "unlearn.size": 100, "unlearn.where": "out"},
    "in2.5pct": {"unlearn.kind": "edge", "unlearn.size": 2.5, "unlearn.where": "in"},
    "in5pct": {"unlearn.kind": "edge", "unlearn.size": 5, "unlearn.where": "in"},
    "feature100": {"unlearn.kind": "feature", "unlearn.size": 100},
    "node100": {"unlearn.kind": "node", "unlearn.size": 100},
    "seq10": {"unlearn.kind": "edge", "unlearn.size": 100, "unlearn.where": "in",
              "unlearn.requests": 10},
    "gat-in100": {"backbone": "gat", "unlearn.kind": "edge", "unlearn.size": 100,
                  "unlearn.where": "in"},
    "gin-in100": {"backbone": "gin", "unlearn.kind": "edge", "unlearn.size": 100,
                  "unlearn.where": "in"},
}


def _fmt(agg, scale=1.0, digits=3):
    if not agg or agg.get("mean") is None:
        return "—"
    vals = [v for v in agg["values"] if v is not None and math.isfinite(v)]
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return f"{mean * scale:.{digits}f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def _delta(M, key):
    r"""Per-seed difference to the retrain reference of the same run: mean ± std."""
    ref = M.get(f"retrain_{key}")
    if not ref or key not in M:
        return "—"
    d = [a - b for a, b in zip(M[key]["values"], ref["values"], strict=True)
         if a is not None and b is not None]
    return _fmt({"mean": 0.0, "values": d}) if d else "—"


def table(folder: Path, files=None) -> str:
    rows = ["| method | Dt AUROC | Df AUROC | MI P(present) on Df | Dt − retrain | "
            "Df − retrain | MI − retrain | seeds |",
            "|---|---|---|---|---|---|---|---|"]
    ref = None
    for m in files or METHODS:
        f = folder / f"{m}.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        M = r["metrics"]
        if ref is None:
            ref = r
        rows.append(f"| {m} | {_fmt(M['test_auc'])} | {_fmt(M['df_auc'])} | "
                    f"{_fmt(M.get('df_mi'))} | {_delta(M, 'test_auc')} | "
                    f"{_delta(M, 'df_auc')} | {_delta(M, 'df_mi')} | {len(r['seeds'])} |")
    if ref is not None:
        M = ref["metrics"]
        rows.append(f"| *original model* | {_fmt(M['original_test_auc'])} | "
                    f"{_fmt(M['original_df_auc'])} | {_fmt(M.get('mi_before'))} | — | — | — | "
                    f"{len(ref['seeds'])} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--setting", choices=sorted(SETTINGS), default="in100")
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 21, 13, 87, 100])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra config values (e.g. d2dgn.epochs=50)")
    p.add_argument("--table", action="store_true", help="print the table from the files")
    p.add_argument("--files", nargs="+", help="with --table: these result names (default: "
                   "the methods)")
    p.add_argument("--out", help="results folder (default: experiments/<dataset>/results/"
                   "unlearning-<setting>)")
    args = p.parse_args(argv)
    folder = Path(args.out) if args.out else \
        HERE / args.dataset / "results" / f"unlearning-{args.setting}"
    if args.table:
        print(table(folder, args.files))
        return 0
    sys.path.insert(0, str(HERE.parent))
    from graphcl.config import parse_set
    from graphcl.runner import run_experiment

    over = {**SETTINGS[args.setting], **parse_set(args.set)}
    for m in args.methods:
        sets = " ".join(f"{k}={v}" for k, v in over.items())
        cmd = (f"graphcl run {m} --dataset {args.dataset} --seed-list "
               f"{','.join(map(str, args.seeds))} --set {sets} --out "
               f"{folder.relative_to(HERE.parent) if folder.is_relative_to(HERE.parent) else folder}"
               f"/{m}.json")
        print(f"== {m}: {cmd}", file=sys.stderr, flush=True)
        run_experiment(m, args.dataset, seeds=args.seeds, overrides=over, out=folder / f"{m}.json",
                       command=cmd + f"  # via {shlex.join(['python', *sys.argv])}",
                       progress=False)
    print(table(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
