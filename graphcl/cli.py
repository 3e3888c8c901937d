r"""The ``graphcl`` command line.

::

    graphcl datasets [--root DIR] [--no-verify]      list dataset cards, present/verified
    graphcl methods                                  list runnable methods
    graphcl quickstart [--out FILE]                  the embedded default (offline, < 1 min)
    graphcl run METHOD --dataset NAME|FORMAT:PATH [--config FILE] [--seeds N] [--out FILE]
                [--set key=value ...]
    graphcl report DIR [--out FILE]                  results JSON files -> markdown table

``graphcl run`` prints the results JSON on its last line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any


def _parse_set(items: list[str]) -> dict[str, Any]:
    from graphcl.config import parse_set

    try:
        return parse_set(items)
    except ValueError as err:
        raise SystemExit(str(err)) from None


def _command() -> str:
    return "graphcl " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def cmd_datasets(args: argparse.Namespace) -> int:
    from graphcl.data import list_cards, verify

    rows = []
    failed = 0
    for card in list_cards():
        if args.no_verify:
            rows.append((card.name, card.format, card.task, "-", ""))
            continue
        rep = verify(card.name, root=args.root)
        if not rep.present:
            status, detail = "missing", f"not under {rep.folder}"
        elif rep.ok:
            checked = "statistics ok" if rep.stats_ok else "no statistics on card"
            status, detail = "verified", checked
        else:
            failed += 1
            bad = [f"{k}: expected {e}, got {a}" for k, (e, a) in rep.stats.items()]
            bad += [f"{r['path']}: {r['problem']}" for r in rep.files if r["problem"]]
            status, detail = "FAILED", "; ".join(bad + rep.errors)
        rows.append((card.name, card.format, card.task, status, detail))
    w = [max(len(str(r[i])) for r in rows + [("dataset", "format", "task", "status", "")])
         for i in range(4)]
    print(f"{'dataset':<{w[0]}}  {'format':<{w[1]}}  {'task':<{w[2]}}  {'status':<{w[3]}}  detail")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}")
    return 1 if failed else 0


def cmd_methods(args: argparse.Namespace) -> int:
    from graphcl.runners import available_methods

    for m in available_methods():
        print(m)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from graphcl.runners import run_experiment

    seeds: int | list[int] = args.seeds
    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",")]
        except ValueError:
            raise SystemExit(f"--seed-list expects comma-separated integers, got {args.seed_list!r}") from None
    elif seeds < 1:
        raise SystemExit(f"--seeds is the number of seeds to run (0..N-1), got {seeds}; "
                         "use --seed-list 0 for seed 0 only")
    results = run_experiment(
        args.method,
        args.dataset,
        config=args.config,
        seeds=seeds,
        out=args.out,
        overrides=_parse_set(args.set),
        root=args.root,
        command=_command(),
    )
    _print_metrics(results)
    print(json.dumps(results, separators=(",", ":")))
    return 0


def _print_metrics(results: dict[str, Any]) -> None:
    from graphcl.evaluate.runs import format_mean_std

    n = len(results["seeds"])
    print(f"{results['method']} on {results['dataset']} ({n} seed{'s' * (n != 1)}, "
          f"{results['wall_time_s']:.1f} s, peak RSS {results['peak_rss_mb']:.0f} MB)")
    for key, agg in results["metrics"].items():
        if key.startswith("stat_"):  # run statistics, not fractions
            print(f"  {key:<32} {agg['mean']:.4g}")
        else:
            print(f"  {key:<32} {format_mean_std(agg['values'])}")


def cmd_quickstart(args: argparse.Namespace) -> int:
    r"""GAE vs the common-neighbour heuristic on an embedded synthetic graph (no files)."""
    import torch

    from graphcl.data.split import random_link_split
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.evaluate import Evaluator
    from graphcl.evaluate.metrics import roc_auc
    from graphcl.runners import run_experiment

    t0 = time.perf_counter()
    results = run_experiment(
        "gae", "synthetic:sbm", seeds=args.seeds, out=args.out, command=_command()
    )
    # The classical heuristic on the same split (seed 0): common-neighbour counts.
    data = attributed_sbm(seed=0)
    split = random_link_split(data, val_ratio=0.05, test_ratio=0.10, seed=0)
    ei = split.train_edge_index()
    n = split.num_nodes
    adj = torch.zeros(n, n)
    adj[ei[0], ei[1]] = 1.0
    s_pos = (adj[split.test_pos[0]] * adj[split.test_pos[1]]).sum(-1)
    s_neg = (adj[split.test_neg[0]] * adj[split.test_neg[1]]).sum(-1)
    cn = {f"hits@{k}": Evaluator.from_metric(f"hits@{k}").eval(
        {"y_pred_pos": s_pos, "y_pred_neg": s_neg})[f"hits@{k}"] for k in (20, 100)}
    cn["auc"] = roc_auc(torch.cat([torch.ones_like(s_pos), torch.zeros_like(s_neg)]),
                        torch.cat([s_pos, s_neg]))
    m = results["metrics"]
    print()
    print("graphcl quickstart — link prediction on a synthetic attributed SBM "
          f"({n} nodes, {data.edge_index.size(1) // 2} edges)")
    print("| model | test Hits@20 | test Hits@100 | test AUC |")
    print("|---|---|---|---|")
    print(f"| GAE (GCN, {len(results['seeds'])} seed) | {m['test_hits@20']['mean']:.4f} | "
          f"{m['test_hits@100']['mean']:.4f} | {m['test_auc']['mean']:.4f} |")
    print(f"| common neighbours | {cn['hits@20']:.4f} | {cn['hits@100']:.4f} | "
          f"{float(cn['auc']):.4f} |")
    print(f"\nwall time {time.perf_counter() - t0:.1f} s")
    print(json.dumps(results, separators=(",", ":")))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from graphcl.evaluate.runs import format_mean_std

    files = sorted(Path(args.dir).rglob("*.json"))
    rows = []
    for f in files:
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"{f}: not valid JSON ({e})") from e
        if not isinstance(r, dict) or not {"method", "dataset", "metrics"} <= set(r):
            continue
        for key, agg in r["metrics"].items():
            if key.startswith("test_"):
                rows.append((r["dataset"], r["method"], key[5:], format_mean_std(agg["values"]),
                             len(r.get("seeds", agg["values"])), r.get("command", "")))
    if not rows:
        raise SystemExit(f"no results JSON with test metrics under {args.dir}")
    lines = ["| dataset | method | metric | test (%) | seeds | command |", "|---|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | `{f}` |" for a, b, c, d, e, f in rows]
    text = "\n".join(lines) + "\n"
    if args.out:
        from graphcl.train.checkpoint import _atomic_write

        _atomic_write(Path(args.out), lambda fh: fh.write(text.encode()))
    print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphcl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("datasets", help="list dataset cards and verify the files present")
    d.add_argument("--root", default=None, help="data root (default: $GRAPHCL_DATA or cache)")
    d.add_argument("--no-verify", action="store_true", help="only list the cards")
    d.set_defaults(fn=cmd_datasets)

    m = sub.add_parser("methods", help="list runnable methods")
    m.set_defaults(fn=cmd_methods)

    q = sub.add_parser("quickstart", help="train a GAE link predictor on embedded synthetic data")
    q.add_argument("--seeds", type=int, default=1)
    q.add_argument("--out", default=None, help="results JSON file")
    q.set_defaults(fn=cmd_quickstart)

    r = sub.add_parser("run", help="run a method on a dataset over seeds")
    r.add_argument("method")
    r.add_argument("--dataset", required=True, help="card name or FORMAT:PATH")
    r.add_argument("--config", default=None, help="config YAML (default models/<method>.yaml)")
    r.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1")
    r.add_argument("--seed-list", default=None, help="comma-separated seeds (overrides --seeds)")
    r.add_argument("--out", default=None, help="results JSON file (written atomically)")
    r.add_argument("--root", default=None, help="data root")
    r.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values (YAML syntax); several after one --set, "
                        "or repeat --set")
    r.set_defaults(fn=cmd_run)

    rep = sub.add_parser("report", help="markdown table from a folder of results JSON")
    rep.add_argument("dir")
    rep.add_argument("--out", default=None)
    rep.set_defaults(fn=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
