r"""SEMBA's four tasks on a signed stream: SEMBA, its ablations and the TGN and static SignedGCN
baselines on the same split, several seeds each (``graphcl run semba`` once per task × configuration).

Each run is the CLI command printed before it, writing
``experiments/<dataset>/results/semba/<task>-<config>.json`` (a killed run resumes); ``--table``
prints the markdown table from those files.

Examples::

    python experiments/semba.py --dataset bitcoin-otc --seeds 5
    python experiments/semba.py --dataset bitcoin-otc --tasks sign --configs semba-noprop semba-nobal
    python experiments/semba.py --dataset bitcoin-otc --table
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TASKS = ("sign", "link", "signed_link", "weight")
CONFIGS = {
    "semba": [],
    "tgn": ["model=tgn"],
    "sgcn": ["model=sgcn"],
    "semba-noprop": ["propagation=false"],
    "semba-nobal": ["balance=false"],
    "semba-linear": ["head=linear"],
}
DEFAULT_CONFIGS = ("semba", "tgn", "sgcn")
COLUMNS = {
    "link": ["auc", "ap", "f1", "trans_auc", "ind_auc"],
    "sign": ["auc", "f1_macro", "f1_pos", "f1_neg", "trans_auc", "trans_f1_neg", "ind_auc",
             "ind_f1_neg"],
    "signed_link": ["auc_macro", "f1_macro", "f1_pos", "f1_neg", "f1_none", "trans_f1_macro",
                    "ind_f1_macro"],
    "weight": ["rmse", "pearson", "trans_rmse", "ind_rmse"],
}


def _out(dataset: str, task: str, config: str) -> Path:
    return ROOT / dataset / "results" / "semba" / f"{task}-{config}.json"


def command(dataset: str, task: str, config: str, seeds: int, extra: list[str]) -> list[str]:
    out = _out(dataset, task, config).relative_to(ROOT.parent)
    return ["graphcl", "run", "semba", "--dataset", dataset, "--seeds", str(seeds),
            "--set", f"task={task}", *CONFIGS[config], *extra, "--out", str(out)]


def _cell(m: dict, key: str, scale: float) -> str:
    if key not in m:
        return "–"
    v = m[key]
    if v["std"] is None:
        return f"{v['mean'] * scale:.2f}"
    return f"{v['mean'] * scale:.2f} ± {v['std'] * scale:.2f}"


def table(dataset: str, tasks: list[str], configs: list[str]) -> str:
    lines = []
    for task in tasks:
        cols = COLUMNS[task]
        scale = 1.0 if task == "weight" else 100.0
        lines += [f"**{task}**", "", "| config | " + " | ".join(cols) + " | s/epoch | seeds |",
                  "|---" * (len(cols) + 3) + "|"]
        for config in configs:
            path = _out(dataset, task, config)
            if not path.exists():
                continue
            res = json.loads(path.read_text())
            m = {k[len("test_"):]: v for k, v in res["metrics"].items() if k.startswith("test_")}
            sec = res["stats"].get("train_s_per_epoch", {}).get("mean", float("nan"))
            cells = [_cell(m, c, 1.0 if c.endswith(("rmse", "pearson")) else scale)
                     for c in cols]
            lines.append(f"| {config} | " + " | ".join(cells)
                         + f" | {sec:.2f} | {len(res['seeds'])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="bitcoin-otc")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(DEFAULT_CONFIGS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra config overrides for every run")
    p.add_argument("--table", action="store_true", help="print the table from the result files")
    args = p.parse_args(argv)
    if args.table:
        print(table(args.dataset, args.tasks, args.configs))
        return 0
    graphcl = Path(sys.executable).with_name("graphcl")
    for task in args.tasks:
        for config in args.configs:
            cmd = command(args.dataset, task, config, args.seeds, args.set)
            print("$", shlex.join(cmd), flush=True)
            subprocess.run([str(graphcl), *cmd[1:]], check=True, cwd=ROOT.parent,
                           stdout=subprocess.DEVNULL)
    print(table(args.dataset, args.tasks, args.configs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
