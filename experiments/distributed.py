r"""Data-parallel training against one process with the same global batch (issue: scale-out).

    python experiments/distributed.py --dataset cora --seeds 0 1 2          # NCNC
    python experiments/distributed.py --dataset collegemsg --seeds 0 1 2    # TGN
    python experiments/distributed.py --dataset collegemsg --seeds 0 1 2 3 4 --nproc 2 \
        --partition-memory                                                  # memory by owner
    python experiments/distributed.py --dataset collegemsg --method pres --seeds 0 1 2 3 4
    python experiments/distributed.py --dataset cora --table

For each process count (``--nproc``, default 1 and 2; gloo on this machine's CPU) the script
runs ``graphcl run METHOD --dataset DATASET --seed-list SEEDS --nproc N`` with the dataset's
config (the paper settings of ``models/<method>.yaml``) and writes
``experiments/<dataset>/results/distributed/<method>-nproc<N>.json`` (the command inside);
(``-nproc<N>-owner.json`` with ``--partition-memory``: node state stored by owner);
``--table`` prints the README table: every metric per process count and the selected epoch
(timings belong to ``benchmarks/bench_distributed.py``, run on an idle machine).
Each rank processes ``batch_size / N`` examples of every global batch, so the arms train on
the same batches; they differ by the dropout draws and floating-point order only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = {"cora": "ncnc", "citeseer": "ncnc", "collegemsg": "tgn", "uci": "tgn",
           "wikipedia-nofeat": "tgn", "wikipedia": "tgn"}
FOLDERS = {"collegemsg": "uci", "wikipedia-nofeat": "wikipedia"}


def _fmt(m: dict | None, scale: float = 100.0) -> str:
    if m is None:
        return "—"
    if m.get("std") is None:
        return f"{m['mean'] * scale:.2f}"
    return f"{m['mean'] * scale:.2f} ± {m['std'] * scale:.2f}"


def _arm(method: str, n: int, owner: bool) -> str:
    return f"{method}-nproc{n}{'-owner' if owner else ''}.json"


def table(folder: Path, method: str, nprocs: list[int]) -> str:
    runs = {(n, owner): json.loads(p.read_text()) for n in nprocs for owner in (False, True)
            if (p := folder / _arm(method, n, owner)).is_file()}
    if not runs:
        return f"no results in {folder}"
    first = next(iter(runs.values()))
    keys = [k for k in first["metrics"] if k.startswith(("valid_", "test_"))]
    head = "| metric | " + " | ".join(
        f"{n} process{'es' if n > 1 else ''}{', memory by owner' if owner else ''}"
        for n, owner in runs) + " |"
    lines = [head, "|---" * (len(runs) + 1) + "|"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(_fmt(r["metrics"].get(k)) for r in runs.values())
                     + " |")
    lines.append("| best epoch | " + " | ".join(_fmt(r["stats"].get("best_epoch"), 1.0)
                                               for r in runs.values()) + " |")
    lines.append("| seeds | " + " | ".join(str(len(r["seeds"])) for r in runs.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="cora", choices=sorted(METHODS))
    p.add_argument("--method", default=None, choices=("ncnc", "ncn", "tgn", "pres"),
                   help="default: ncnc on static graphs, tgn on event streams")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--nproc", nargs="+", type=int, default=[1, 2])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--partition-memory", action="store_true",
                   help="store a memory model's node state by owner (arms with N > 1)")
    p.add_argument("--table", action="store_true", help="print the table from the files")
    p.add_argument("--out", help="results folder (default experiments/<dataset>/results/"
                                 "distributed)")
    args = p.parse_args(argv)
    method = args.method or METHODS[args.dataset]
    folder = (Path(args.out) if args.out else
              HERE / FOLDERS.get(args.dataset, args.dataset) / "results" / "distributed")
    if not args.table:
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        for n in args.nproc:
            owner = args.partition_memory and n > 1
            out = folder / _arm(method, n, owner)
            cmd = [sys.executable, "-m", "graphcl", "run", method, "--dataset", args.dataset,
                   "--seed-list", ",".join(map(str, args.seeds)), "--nproc", str(n),
                   *(["--partition-memory"] if owner else []),
                   "--no-progress", "--out", str(out.relative_to(HERE.parent)),
                   *(["--set", *args.set] if args.set else [])]
            print("==", " ".join(cmd[1:]), file=sys.stderr, flush=True)
            done = subprocess.run(cmd, cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL)
            if done.returncode:
                return done.returncode
    print(table(folder, method, args.nproc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
