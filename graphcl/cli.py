r"""The ``graphcl`` command line.

::

    graphcl quickstart [METHOD]                 every method on its embedded synthetic data
    graphcl methods                             the runnable methods, one line each
    graphcl run METHOD --dataset DATASET        train and evaluate over seeds -> results JSON
    graphcl report DIR                          results JSON files -> one markdown table
    graphcl datasets                            dataset cards: present / verified

Every user error (unknown method, dataset, plugin or config key; a dataset of the wrong kind;
a resume file of another run) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

DATASET_HELP = """\
DATASET is one of
  a card name or alias      cora, citeseer, collegemsg, wikipedia-nofeat, ogbl-ddi, mutag ...
                            (`graphcl datasets` lists them; files under $GRAPHCL_DATA)
  FORMAT:PATH               any file or folder of a known format, no card needed:
                            planetoid:/data/CiteSeer/raw, jodie:wiki.csv, tu:/data/MUTAG,
                            snap-temporal:CollegeMsg.txt, snap-signed:otc.csv, ml:ml_x.csv,
                            ogb-linkprop:/data/ogbl_ddi, idx:/data/mnist/raw
  synthetic:KIND            embedded generators, no files: sbm (attributed graph),
                            temporal-sbm (event stream), signed, graphs (graph collection)
"""


class UserError(Exception):
    r"""A mistake in the command line or its inputs: reported in one line, exit status 2."""


def _command() -> str:
    return "graphcl " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _methods_table() -> str:
    from graphcl.methods import available_methods

    methods = available_methods()
    w = max(len(n) for n in methods)
    return "\n".join(f"  {n:<{w}}  {m.description}" for n, m in methods.items())


def _examples() -> str:
    from graphcl.methods import available_methods

    lines = [e for m in available_methods().values() for e in m.examples[:1]]
    return "\n".join(f"  {e}" for e in lines)


def cmd_datasets(args: argparse.Namespace) -> int:
    from graphcl.data import list_cards, verify

    rows = []
    failed = 0
    for card in list_cards():
        if args.no_verify:
            rows.append((card.name, card.format, card.task, "-", ""))
            continue
        rep = verify(card.name, root=args.root)
        missing = [r["path"] for r in rep.files if r.get("problem") == "missing"]
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
        if status == "missing" and missing and len(missing) < len(rep.files):
            failed += 1
            status, detail = "INCOMPLETE", "missing " + ", ".join(missing)
        rows.append((card.name, card.format, card.task, status, detail))
    w = [max(len(str(r[i])) for r in rows + [("dataset", "format", "task", "status", "")])
         for i in range(4)]
    print(f"{'dataset':<{w[0]}}  {'format':<{w[1]}}  {'task':<{w[2]}}  {'status':<{w[3]}}  detail")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}")
    return 1 if failed else 0


def cmd_methods(args: argparse.Namespace) -> int:
    print(_methods_table())
    return 0


def _parse_set(items: list[str]) -> dict[str, Any]:
    from graphcl.config import parse_set

    return parse_set(items)


def _launch(args: argparse.Namespace) -> int:
    r"""Re-runs this command in ``--nproc`` processes with torchrun's launcher (standalone
    rendezvous on this machine, no restarts: a failed rank stops the others)."""
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if args.workers > 1:
        raise UserError("--nproc and --workers do not combine: each seed of a --nproc run "
                        "uses every process")
    if args.threads is None:  # torchrun's default: one thread per process
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=args.nproc,
                          run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                          start_method="spawn")
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "graphcl", *args.argv)
    except ChildFailedError as err:
        rank, failure = min(err.failures.items())
        print(f"graphcl: error: rank {rank} of {args.nproc} failed (exit code "
              f"{failure.exitcode}); its error is above", file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from graphcl.distributed import torchrun_env_present
    from graphcl.runner import run_experiment

    if args.nproc < 1 or args.workers < 1:
        raise UserError(f"--nproc and --workers must be >= 1, got {args.nproc}, {args.workers}")
    inside = torchrun_env_present()
    if args.partition_memory and args.nproc == 1 and not inside:
        raise UserError("--partition-memory stores node state over the processes of a "
                        "data-parallel run: add --nproc N (N > 1)")
    if args.nproc > 1 and not inside:
        return _launch(args)
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    seeds: int | list[int] = args.seeds
    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",")]
        except ValueError:
            raise UserError(f"--seed-list expects comma-separated integers, got "
                            f"{args.seed_list!r}") from None
    elif seeds < 1:
        raise UserError(f"--seeds is the number of seeds to run (0..N-1), got {seeds}; "
                        "use --seed-list 0 for seed 0 only")
    try:
        results = run_experiment(
            args.method, args.dataset, config=args.config, seeds=seeds, out=args.out,
            overrides=_parse_set(args.set), plugins=args.plugin, root=args.root,
            command=_command(), progress=not args.no_progress, verbose=args.verbose,
            stream=args.stream, workers=args.workers, executor=args.executor,
            threads=args.threads, shard_by=args.shard_by,
            partition_memory=args.partition_memory)
    finally:
        if inside:
            from graphcl.distributed import shutdown

            shutdown()
    if inside and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 prints the results
    _print_metrics(results)
    print(json.dumps(results, separators=(",", ":")))
    return 0


_RAW_METRICS = ("loss", "rmse", "mse", "mae", "gw", "feasibility", "pearson", "spearman", "mib",
                "speedup", "ratio")


def _print_metrics(results: dict[str, Any]) -> None:
    from graphcl.evaluate.runs import format_mean_std

    n = len(results["seeds"])
    print(f"{results['method']} on {results['dataset']} ({n} seed{'s' * (n != 1)}, "
          f"{results['wall_time_s']:.1f} s, peak RSS {results['peak_rss_mb']:.0f} MB)")
    for key, agg in results["metrics"].items():
        vals = [float("nan") if v is None else v for v in agg["values"]]
        # fractions (accuracy, AUC, AP, Hits, MRR) as %, other quantities as they are
        raw = any(t in key for t in _RAW_METRICS)
        print(f"  {key:<32} {format_mean_std(vals, 1.0 if raw else 100.0, 4 if raw else 2)}")
    for key, agg in results.get("stats", {}).items():
        print(f"  {key:<32} {agg['mean'] if agg['mean'] is not None else float('nan'):.4g}")


def cmd_quickstart(args: argparse.Namespace) -> int:
    r"""Every registered method (or one) on its embedded synthetic default: one table."""
    from graphcl.methods import available_methods, get_method
    from graphcl.runner import resolve, run_experiment

    methods = ({args.method: get_method(args.method)} if args.method else available_methods())
    rows = []
    t_all = time.perf_counter()
    cache: dict[str, Any] = {}
    for name, m in methods.items():
        entries = m.quickstart if isinstance(m.quickstart, list) else [m.quickstart]
        for q in filter(None, entries):
            spec = q["dataset"]
            if spec not in cache:
                cache[spec] = resolve(spec)
            label = q.get("label", name)
            t0 = time.perf_counter()
            res = None
            try:
                res = run_experiment(name, spec, seeds=1, overrides=dict(q.get("set", {})),
                                     plugins=q.get("plugins", ()), stream=q.get("stream"),
                                     command=_command(), progress=False, data=cache[spec])
                value = res["metrics"][q["metric"]]["mean"]
            except ImportError as e:  # an optional extra is not installed: say which
                if "pip install 'graphcl[" not in str(e):
                    raise
                value = f"skipped: {e}"
            rows.append((label, q.get("task", m.task) or "-", spec.split(":", 1)[1],
                         q["metric"], value, time.perf_counter() - t0))
            if args.out and res is not None:
                from graphcl.train.checkpoint import write_json_atomic

                write_json_atomic(Path(args.out) / f"{label.split()[0]}.json", res)
    print("\ngraphcl quickstart — every method on embedded synthetic data (no files, seed 0)\n")
    print("| method | task | dataset | metric | value | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        value = r[4] if isinstance(r[4], str) else f"{r[4]:.4f}"
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {value} | {r[5]:.1f} |")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from graphcl.evaluate.runs import format_mean_std

    files = sorted(Path(args.dir).rglob("*.json"))
    rows = []
    for f in files:
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{f}: not valid JSON ({e})") from e
        if not isinstance(r, dict) or not {"method", "dataset", "metrics"} <= set(r):
            continue
        for key, agg in r["metrics"].items():
            if key.startswith("test_") and isinstance(agg, dict) and "values" in agg:
                vals = [float("nan") if v is None else v for v in agg["values"]]
                rows.append((r["dataset"], r["method"], key[5:], format_mean_std(vals),
                             len(r.get("seeds", vals)), r.get("command", "")))
    if not rows:
        raise UserError(f"no results JSON with test metrics under {args.dir}")
    lines = ["| dataset | method | metric | test (%) | seeds | command |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | `{f}` |" for a, b, c, d, e, f in rows]
    text = "\n".join(lines) + "\n"
    if args.out:
        from graphcl.train.checkpoint import _atomic_write

        _atomic_write(Path(args.out), lambda fh: fh.write(text.encode()))
    print(text, end="")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="graphcl", formatter_class=fmt,
                description="Learning on graphs and temporal networks: one engine, many methods.",
                epilog="methods:\n" + _methods_table() + "\n\nexamples:\n"
                "  graphcl quickstart\n" + _examples() + "\n\n" + DATASET_HELP)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    q = sub.add_parser("quickstart", formatter_class=fmt,
                       help="every method on embedded synthetic data (no files, < 2 min)")
    q.add_argument("method", nargs="?", default=None, help="run only this method")
    q.add_argument("--out", default=None, help="folder for one results JSON per method")
    q.set_defaults(fn=cmd_quickstart)

    m = sub.add_parser("methods", help="list the runnable methods")
    m.set_defaults(fn=cmd_methods)

    r = sub.add_parser(
        "run", formatter_class=fmt, help="train and evaluate a method over seeds",
        description="Train and evaluate METHOD on DATASET for each seed; print the metrics "
                    "and, last, the results JSON (also written to --out). A killed run "
                    "rerun with the same --out resumes where it stopped.",
        epilog="methods:\n" + _methods_table() + "\n\n" + DATASET_HELP + "\nexamples:\n"
               + _examples() + "\n  graphcl run gae --dataset cora --plugin ewc:ewc_lambda=100"
               "\n  graphcl run gnn --dataset cora --stream class-incremental:4 "
               "--plugin replay:mem_size=200")
    r.add_argument("method", help="a method name (see below)")
    r.add_argument("--dataset", required=True, help="card name, FORMAT:PATH or synthetic:KIND")
    r.add_argument("--config", default=None, help="config YAML (default models/<method>.yaml)")
    r.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1 (default 1)")
    r.add_argument("--seed-list", default=None, help="comma-separated seeds (overrides --seeds)")
    r.add_argument("--out", default=None, help="results JSON file (written atomically)")
    r.add_argument("--root", default=None, help="data root (default $GRAPHCL_DATA)")
    r.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values (YAML syntax; SECTION.KEY sets a key of a "
                        "section, e.g. pres.gamma=0.5)")
    r.add_argument("--plugin", action="append", default=[], metavar="NAME[:k=v,...]",
                   help="add an engine plugin, e.g. ewc:ewc_lambda=100 (repeatable)")
    r.add_argument("--stream", default=None, metavar="KIND:TASKS[,k=v]",
                   help="continual learning: train a stream cut from the dataset, e.g. "
                        "class-incremental:4, task-incremental:0-1/2-3, time-window:5 "
                        "(options inter_task_edges=BOOL, cumulative=BOOL, unlearn=TASK@AFTER, "
                        "unlearn_epochs=N); reports average accuracy, forgetting, BWT, FWT")
    r.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel training in N processes on this machine, started "
                        "through torchrun (gloo on CPU; ncnc/ncn, tgn/pres); equivalent to "
                        "torchrun --nproc_per_node N -m graphcl run ...")
    r.add_argument("--shard-by", choices=("time", "owner"), default="time",
                   help="with --nproc, how a memory model's batch is split: chronological "
                        "shards, or by the owner of each event's source (node id mod N)")
    r.add_argument("--partition-memory", action="store_true",
                   help="with --nproc, a memory model's node state (memory, messages, "
                        "neighbour lists, PRES statistics) is stored by owner: each process "
                        "holds 1/N of the nodes and fetches a step's rows from the others")
    r.add_argument("--workers", type=int, default=1, metavar="K",
                   help="run the seeds K at a time in parallel processes (results equal the "
                        "sequential run's with the same --threads)")
    r.add_argument("--executor", choices=("process", "ray"), default="process",
                   help="where --workers run: local processes or a Ray cluster "
                        "($RAY_ADDRESS, else a local one; pip install 'graphcl[ray]')")
    r.add_argument("--threads", type=int, default=None,
                   help="torch threads per process (default: the cores shared out)")
    r.add_argument("-v", "--verbose", action="store_true", help="one line per epoch on stderr")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_run)

    rep = sub.add_parser("report", help="markdown table from a folder of results JSON")
    rep.add_argument("dir")
    rep.add_argument("--out", default=None)
    rep.set_defaults(fn=cmd_report)

    d = sub.add_parser("datasets", help="list dataset cards and verify the files present")
    d.add_argument("--root", default=None, help="data root (default: $GRAPHCL_DATA or cache)")
    d.add_argument("--no-verify", action="store_true", help="only list the cards")
    d.set_defaults(fn=cmd_datasets)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    from graphcl.data.errors import DataFormatError
    from graphcl.distributed import DistributedError
    from graphcl.methods import ConfigError, DatasetKindError
    from graphcl.runner import PartialResultsError
    from graphcl.train.engine import ResumeError

    return (UserError, ConfigError, DatasetKindError, ResumeError, PartialResultsError,
            DataFormatError, DistributedError, KeyError, FileNotFoundError, ValueError)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for --nproc's relaunch
        return int(args.fn(args) or 0)
    except _user_errors() as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"graphcl: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
