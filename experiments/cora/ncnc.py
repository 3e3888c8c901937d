r"""NCN / NCNC on Cora with the authors' protocol (Wang et al., ICLR 2024).

Fresh random 70/10/20 link split per seed (validation ~2 negatives per positive, test 1:1),
Hits@K with graphcl's Evaluator (strict >, all negatives), each K selected at its best validation
epoch, flags of models/ncnc.yaml (the authors' README command for Cora). The same runner as
``graphcl run ncnc --dataset cora``; one intra-op thread, as the recorded runs.

    python experiments/cora/ncnc.py                      # NCNC, seeds 0-9
    python experiments/cora/ncnc.py --predictor ncn      # NCN (also: gae_ncn_head, gae_cn, cn, aa, ra)

Writes experiments/cora/results/<predictor>.json (the project's results schema).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch

from graphcl.runner import run_experiment

REPO = Path(__file__).resolve().parents[2]


def main(dataset: str = "cora") -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictor", default="ncnc", help="the method: ncnc, ncn, gae_ncn_head, ...")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--epochs", type=int, default=None, help="override the configured epochs")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="results JSON path")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from graphcl.config import parse_set

    overrides = parse_set(args.set)
    if args.epochs:
        overrides["epochs"] = args.epochs
    name = "gae" if args.predictor == "gae_ncn_head" else args.predictor
    out = Path(args.out) if args.out else REPO / "experiments" / dataset / "results" / f"{name}.json"
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO),
                                                           *sys.argv[1:]])
    res = run_experiment(args.predictor, dataset, seeds=args.seeds, out=out, overrides=overrides,
                         command=command, verbose=True)
    m = res["metrics"]["test_hits@100"]
    std = f" ± {100 * m['std']:.2f}" if m["std"] is not None else ""
    print(f"{args.predictor} {dataset} test Hits@100: {100 * m['mean']:.2f}{std} over "
          f"{len(m['values'])} seeds")


if __name__ == "__main__":
    main()
