r"""Training throughput of graphcl's TGN vs PyG's ``examples/tgn.py`` logic on the same data.

Both train full epochs (batch 200, memory/time/embedding 100, 10 neighbours, lr 1e-4) on the
training events of the same chronological split; the two are run alternately, ``--repeats``
epochs each, and the best epoch of each is reported (wall clock and process CPU time).
Run on an idle machine::

    python benchmarks/bench_tgn.py --dataset wikipedia --repeats 2 --threads 2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyg_tgn_reference as ref  # noqa: E402
import tgn_timing  # noqa: E402

from graphcl.train.checkpoint import write_json_atomic  # noqa: E402


def main(argv=None) -> dict:
    parser = tgn_timing.parser(__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args(argv)
    data = tgn_timing.setup(args)
    result = {"dataset": args.dataset, "batch_size": args.batch_size,
              "threads": torch.get_num_threads(), "command": "python " + " ".join(sys.argv),
              "graphcl": [], "graphcl_neighbor_grad_off": [], "pyg": []}
    for _ in range(args.repeats):  # alternate so that load changes hit both alike
        result["graphcl"] += tgn_timing.timed_epochs(data, {"batch_size": args.batch_size})
        result["graphcl_neighbor_grad_off"] += tgn_timing.timed_epochs(
            data, {"batch_size": args.batch_size, "neighbor_grad": False})
        pyg = ref.main(["--dataset", args.dataset, "--epochs", "1", "--no-eval",
                        "--batch-size", str(args.batch_size),
                        "--threads", str(torch.get_num_threads())])
        h = pyg["history"][0]
        result["pyg"].append({"seconds": h["train_seconds"], "cpu_seconds": h["train_cpu_seconds"],
                              "events_per_s": h["events_per_s"]})
    best = {k: min(result[k], key=lambda r: r["seconds"]) for k in
            ("graphcl", "graphcl_neighbor_grad_off", "pyg")}
    result["best"] = best
    result["speedup_wall"] = best["pyg"]["seconds"] / best["graphcl"]["seconds"]
    result["speedup_cpu"] = best["pyg"]["cpu_seconds"] / best["graphcl"]["cpu_seconds"]
    result["speedup_wall_neighbor_grad_off"] = (best["pyg"]["seconds"]
                                                / best["graphcl_neighbor_grad_off"]["seconds"])
    print(json.dumps({k: result[k] for k in ("best", "speedup_wall", "speedup_cpu",
                                             "speedup_wall_neighbor_grad_off")}, indent=2))
    if args.out:
        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
