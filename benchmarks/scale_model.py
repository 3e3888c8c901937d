r"""A cost model of data-parallel memory-model training beyond one machine, calibrated on the
measured 1- and 2-process runs (``benchmarks/results/bench_distributed_*.json``).

Per training step of a global batch ``b`` on ``P`` ranks (one process per machine)::

    t_step = c0 + c1 * b / P                       compute: fixed part + per-event part
           + 2 (P-1)/P * G / bw + 2 (P-1) * lat    ring all-reduce of the gradient (G bytes)
           + (P-1)/P * R * W / bw + (P-1) * lat    all-gather of the touched node rows

``c0`` and ``c1`` come from two measured points, the 1-process step (``b`` events) and the
2-process step less its collectives (``b/2`` events per rank); ``R`` (touched rows per step) and
``W`` (bytes per row) from the model's state layout. ``bw``/``lat`` are assumptions about the
network (printed with the result), not measurements, except the first network, whose bandwidth
is the one the measured 2-process all-reduce implies. Two regimes:

* **fixed global batch** (what ``--nproc`` does: the single-process result, exactly);
* **growing global batch** ``b * P`` (each rank keeps ``b`` events; staler memory within a
  batch, which PRES is built to absorb).

It also prints the per-node state bytes, the node count that fills one machine and the
machines a memory partitioned by owner needs. Run::

    python benchmarks/scale_model.py --bench benchmarks/results/bench_distributed_h200host.json \
        --out benchmarks/results/scale_model.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphcl.train.checkpoint import write_json_atomic  # noqa: E402

TGN_PARAMS = 234_801  # graphcl run tgn, feature-less events (memory = time = embedding = 100)
MEMORY_DIM, TIME_DIM, NEIGHBOURS = 100, 100, 10


def state_bytes_per_node(edge_dim: int = 0, pres_gamma: bool = False) -> int:
    r"""Bytes of per-node state: memory, last update, message store, neighbour store (and
    PRES's transition statistics: 2 components, 16-slot initialisation buffer)."""
    memory = 4 * MEMORY_DIM + 8
    messages = 8 + 8 + 4 * MEMORY_DIM + 4 * edge_dim
    neighbours = NEIGHBOURS * (8 + 8 + 8 + 4 * edge_dim) + 8
    gmm = (8 + 4 * 2 + 2 * 2 * 4 * MEMORY_DIM + 16 * 4 * MEMORY_DIM + 4 * MEMORY_DIM
           if pres_gamma else 0)
    return memory + messages + neighbours + gmm


def calibrate(bench: dict, workload: str, batch: int) -> dict[str, float]:
    w = bench["workloads"][workload]["best"]
    one, two = w["1p x 1t"], w["2p x 1t"]
    steps = one["examples_per_s"] * one["train_s_per_epoch"] / batch
    t1 = one["train_s_per_epoch"] / steps
    t2 = (two["train_s_per_epoch"] - two["comm_s_per_epoch"] - two["sync_s_per_epoch"]) / steps
    c1 = (t1 - t2) / (batch - batch / 2)
    return {"c0_s": t1 - c1 * batch, "c1_s_per_event": c1, "steps_per_epoch": steps,
            "measured_comm_s_per_step": two["comm_s_per_epoch"] / steps,
            "measured_sync_s_per_step": two["sync_s_per_epoch"] / steps}


def step_time(p: int, b: float, cal: dict, bw: float, lat: float) -> dict[str, float]:
    compute = cal["c0_s"] + cal["c1_s_per_event"] * b / p
    grad = 4 * TGN_PARAMS
    allreduce = (2 * (p - 1) / p * grad / bw + 2 * (p - 1) * lat) if p > 1 else 0.0
    rows = min(2 * b, 2 * b)  # every endpoint of the batch, an upper bound
    row_bytes = 8 * (MEMORY_DIM + 1 + 1 + 1 + MEMORY_DIM + 1)  # packed as float64
    sync = ((p - 1) / p * rows * row_bytes / bw + (p - 1) * lat) if p > 1 else 0.0
    total = compute + allreduce + sync
    return {"compute_s": compute, "allreduce_s": allreduce, "sync_s": sync, "step_s": total,
            "events_per_s": b / total, "comm_share": (allreduce + sync) / total}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="benchmarks/results/bench_distributed_h200host.json")
    ap.add_argument("--workload", default="tgn-wikipedia")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    bench = json.loads(Path(args.bench).read_text())
    cal = calibrate(bench, args.workload, args.batch)
    # the 2-process run's own collectives, read as a ring over a link of this bandwidth
    measured_bw = 4 * TGN_PARAMS / cal["measured_comm_s_per_step"]
    networks = {"as measured (gloo, loopback)": (measured_bw, 0.0),
                "10 Gb/s, 50 us": (10e9 / 8, 50e-6), "100 Gb/s, 10 us": (100e9 / 8, 10e-6)}
    out: dict = {"command": "python " + " ".join(sys.argv), "bench": args.bench,
                 "workload": args.workload, "batch": args.batch, "calibration": cal,
                 "networks_assumed": list(networks), "regimes": {}}
    for net, (bw, lat) in networks.items():
        for regime in ("fixed global batch", "growing global batch"):
            rows = {}
            for p in args.procs:
                b = args.batch if regime == "fixed global batch" else args.batch * p
                rows[p] = step_time(p, b, cal, bw, lat)
            base = rows[args.procs[0]]["events_per_s"]
            for r in rows.values():
                r["speedup"] = r["events_per_s"] / base
            out["regimes"][f"{regime} | {net}"] = rows
    machine = 24 * 2**30  # the 24 GiB machines of this project
    out["state"] = {}
    for label, edge_dim, pres in (("TGN, no edge features", 0, False),
                                  ("TGN, 172-d edge features", 172, False),
                                  ("TGN + PRES (gamma > 0)", 0, True)):
        per = state_bytes_per_node(edge_dim, pres)
        out["state"][label] = {
            "bytes_per_node": per, "nodes_per_24GiB": int(machine * 0.5 // per),
            "machines_for_100M_nodes": -(-100_000_000 * per // int(machine * 0.5)),
            "machines_for_1B_nodes": -(-1_000_000_000 * per // int(machine * 0.5))}
    for key, rows in out["regimes"].items():
        print(key)
        for p, r in rows.items():
            print(f"  P={p:>2}: {r['events_per_s']:9.0f} events/s  x{r['speedup']:.2f}  "
                  f"comm {100 * r['comm_share']:.0f}%")
    print(json.dumps(out["state"], indent=1))
    if args.out:
        write_json_atomic(Path(args.out), out)
    return out


if __name__ == "__main__":
    main()
