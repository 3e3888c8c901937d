r"""Data-parallel throughput: 1 and 2 processes (gloo on CPU), the communication share, and
the raw all-reduce cost that the scale-out model (``benchmarks/scale_model.py``) builds on.

Arms, per workload (NCNC on Cora, TGN on CollegeMsg and JODIE Wikipedia without features,
and ``tgn-random-1m``: TGN on a random stream of 1M events over 1M node ids, written to a
temporary SNAP file, where node state dominates a rank's memory), each
``graphcl run METHOD --dataset D --set epochs=E`` with ``--nproc``/``--threads``:

* ``1p x 2t``: one process, two torch threads (the single-process default here);
* ``1p x 1t``: one process, one thread (the per-rank compute of the 2-process arm);
* ``2p x 1t``: two processes (``--nproc 2``), one thread each, same global batch;
* ``2p x 1t owner``: the same with ``--partition-memory`` (memory models: node state stored
  by owner, each rank fetching a step's rows), with the bytes of node state per rank and the
  bytes exchanged.

The arms alternate ``--repeats`` times (load changes hit all alike); the time per training
epoch is the runner's (the first epoch left out), the communication share is the gradient
all-reduce plus the node-state sync (or the owner-row exchanges) over the epoch time; rank 0's
peak RSS and the node state one rank stores are recorded. Run on an idle machine::

    python benchmarks/bench_distributed.py --repeats 2 --out benchmarks/results/bench_distributed.json
    python benchmarks/bench_distributed.py --repeats 1 --workloads tgn-random-1m \
        --arms "2p x 1t" "2p x 1t owner" --no-allreduce --out benchmarks/results/bench_partition_1m.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphcl.train.checkpoint import write_json_atomic  # noqa: E402

WORKLOADS = {  # name: (method, dataset or None for a generated one, extra --set)
    "ncnc-cora": ("ncnc", "cora", ["epochs=3"]),
    "tgn-uci": ("tgn", "collegemsg", ["epochs=3", "patience=10", "mrr_num_neg=0"]),
    "tgn-wikipedia": ("tgn", "wikipedia-nofeat", ["epochs=2", "patience=10", "mrr_num_neg=0"]),
    # PRES's batch 800 (its default): the global batch that grows with the processes
    "pres-uci": ("pres", "collegemsg", ["epochs=3", "patience=10", "mrr_num_neg=0"]),
}
#: a random stream over many nodes, where node state dominates a rank's memory: (ids, events)
LARGE = {"tgn-random-1m": (1_000_000, 1_000_000)}
WORKLOADS["tgn-random-1m"] = ("tgn", None, ["epochs=1", "patience=10", "mrr_num_neg=0"])
ARMS = {"1p x 2t": (1, 2, False), "1p x 1t": (1, 1, False), "2p x 1t": (2, 1, False),
        "2p x 1t owner": (2, 1, True)}


def run_arm(method: str, dataset: str, sets: list[str], nproc: int, threads: int,
            owner: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "graphcl", "run", method, "--dataset", dataset,
               "--no-progress", "--nproc", str(nproc), "--threads", str(threads),
               *(["--partition-memory"] if owner else []), "--out", str(out), "--set", *sets]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
        res = json.loads(out.read_text())
    st = {k: v["mean"] for k, v in res["stats"].items()}
    parts = ("comm", "sync", "exchange")  # gradients, node-state sync, owner-row exchanges
    comm = sum(st.get(f"{k}_s_per_epoch", 0.0) for k in parts)
    return {"train_s_per_epoch": st["train_s_per_epoch"],
            "examples_per_s": st.get("train_examples_per_s"),
            "peak_rss_mb_rank0": res.get("peak_rss_mb"),
            **{f"{k}_s_per_epoch": st.get(f"{k}_s_per_epoch", 0.0) for k in parts},
            "exchange_mb_per_epoch": st.get("exchange_mb_per_epoch"),
            "node_state_mb_per_rank": st.get("node_state_mb"),
            "comm_share": comm / st["train_s_per_epoch"]}


def random_stream(path: Path, ids: int, events: int, seed: int = 0) -> None:
    r"""A SNAP temporal file of ``events`` uniform random pairs over ``ids`` node ids, one
    event per second."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, ids, (events,), generator=g)
    dst = torch.randint(0, ids, (events,), generator=g)
    t = torch.arange(events)
    rows = torch.stack([src, dst, t], 1).tolist()
    path.write_text("".join(f"{a} {b} {c}\n" for a, b, c in rows))


# --- raw collectives -------------------------------------------------------------------------
def _allreduce_worker(rank: int, world: int, port: int, sizes: list[int], reps: int,
                      out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    res = {}
    for n in sizes:
        t = torch.ones(n)
        dist.all_reduce(t)  # warm-up
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(t)
        res[n] = (time.perf_counter() - t0) / reps
    if rank == 0:
        Path(out).write_text(json.dumps(res))
    dist.destroy_process_group()


def allreduce_costs(sizes: list[int], reps: int = 20) -> dict[str, float]:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ar.json"
        mp.start_processes(_allreduce_worker, args=(2, port, sizes, reps, str(out)), nprocs=2,
                           start_method="spawn")
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--no-allreduce", action="store_true", help="skip the raw all-reduce costs")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    result: dict = {"command": "python " + shlex.join(sys.argv), "cpus": os.cpu_count(),
                    "load_before": os.getloadavg()[0], "workloads": {}}
    tmp = tempfile.TemporaryDirectory()
    for name in args.workloads:
        method, dataset, sets = WORKLOADS[name]
        if name in LARGE:
            path = Path(tmp.name) / f"{name}.txt"
            random_stream(path, *LARGE[name])
            dataset = f"snap-temporal:{path}"
            result.setdefault("large", {})[name] = dict(zip(("ids", "events"), LARGE[name],
                                                           strict=True))
        arms = {a: v for a, v in ARMS.items() if a in args.arms and (method != "ncnc" or not v[2])}
        runs: dict[str, list[dict]] = {arm: [] for arm in arms}
        for _ in range(args.repeats):
            for arm, (nproc, threads, owner) in arms.items():
                runs[arm].append(run_arm(method, dataset, sets, nproc, threads, owner))
                print(name, arm, runs[arm][-1], file=sys.stderr, flush=True)
        best = {arm: min(r, key=lambda x: x["train_s_per_epoch"]) for arm, r in runs.items()}
        sec = {arm: b["train_s_per_epoch"] for arm, b in best.items()}
        ratios = {f"speedup_{b}_vs_{a}".replace(" ", ""): sec[a] / sec[b] for a, b in (
            ("1p x 2t", "2p x 1t"), ("1p x 1t", "2p x 1t"), ("2p x 1t", "2p x 1t owner"),
            ("1p x 2t", "2p x 1t owner")) if a in sec and b in sec}
        result["workloads"][name] = {"runs": runs, "best": best, **ratios}
        if args.out:  # what is done survives a run cut short
            write_json_atomic(Path(args.out), result)
    if not args.no_allreduce:
        result["allreduce_s"] = allreduce_costs([10**k for k in range(2, 8)])
        if args.out:
            write_json_atomic(Path(args.out), result)
    print(json.dumps({k: {m: v for m, v in w.items() if m != "runs"}
                      for k, w in result["workloads"].items()}, indent=1))
    print(json.dumps(result.get("allreduce_s")))
    return result


if __name__ == "__main__":
    main()
