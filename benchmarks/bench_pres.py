r"""Wall clock per training epoch of TGN at batch 200, TGN at the large batch, and TGN+PRES at
the large batch for each ``--gammas`` value (train pass only, same data/split), and the speedups
over batch 200; ``--set KEY=VALUE`` changes every arm's configuration (YAML values)::

    python benchmarks/bench_pres.py --dataset wikipedia --large 800 --repeats 2 --threads 2
    python benchmarks/bench_pres.py --dataset uci --gammas 0.5 0 --scopes batch intra \
        --set query_time=event batch_neighbors=true
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tgn_timing  # noqa: E402

from graphcl.config import parse_set  # noqa: E402
from graphcl.train.checkpoint import write_json_atomic  # noqa: E402


def main(argv=None) -> dict:
    parser = tgn_timing.parser(__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=800)
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.5],
                        help="PRES fusion weights, one arm each")
    parser.add_argument("--scopes", nargs="+", default=["batch"], choices=["batch", "intra"],
                        help="PRES scopes (graphcl.train.pres.PRES), one arm each per gamma")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        common = parse_set(args.set)
    except ValueError as err:
        parser.error(str(err))
    data = tgn_timing.setup(args)
    runs = {"tgn_b200": {**common, "batch_size": 200},
            f"tgn_b{args.large}": {**common, "batch_size": args.large}}
    pres_common = common.get("pres") if isinstance(common.get("pres"), dict) else {}
    for scope in args.scopes:
        for g in args.gammas:
            if g == 0 and scope != args.scopes[0]:
                continue  # gamma 0 predicts nothing: the scope changes nothing
            name = (f"tgn+pres_b{args.large}" + ("" if g == 0.5 else f"_gamma{g:g}")
                    + ("" if scope == "batch" or g == 0 else f"_{scope}"))
            runs[name] = {**common, "batch_size": args.large,
                          "pres": {**pres_common, "gamma": g, "scope": scope}}
    times: dict[str, list[dict]] = {k: [] for k in runs}
    tgn_timing.timed_epochs(data, runs["tgn_b200"])  # untimed warm-up (allocator, caches)
    for _ in range(args.repeats):  # alternate so that load changes hit all alike
        for name, cfg in runs.items():
            times[name] += tgn_timing.timed_epochs(data, cfg)
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in times.items()}
    base = best["tgn_b200"]["seconds"]
    result = {"dataset": args.dataset, "threads": torch.get_num_threads(), "set": common,
              "command": "python " + " ".join(sys.argv), "times": times, "best": best,
              "speedup_over_b200": {k: base / v["seconds"] for k, v in best.items()}}
    print(json.dumps({k: result[k] for k in ("best", "speedup_over_b200")}, indent=2))
    if args.out:
        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
