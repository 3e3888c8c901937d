r"""NCN / NCNC on ogbl-ddi with the authors' protocol (Wang et al., ICLR 2024).

Official OGB split, Hits@20 with graphcl's Evaluator (same numbers as ``Evaluator('ogbl-ddi')``),
flags of models/ncnc.yaml (the authors' README commands). NCNC is the authors' recipe: train NCN
(100 epochs, node-id embeddings, its best weights saved as ``<out dir>/ncn_seed<k>.pt``), then
fine-tune 2 epochs with the completion head and the MPNN frozen (gnnlr 0), starting from that
file (``init_from: ncn``). The runner keeps a per-epoch state next to ``--out``: re-running the
same command after a kill (or with more ``--epochs``) continues from the last finished epoch
with identical results.

    python experiments/ogbl-ddi/ncnc.py --predictor ncn --seeds 0 --epochs 5
    python experiments/ogbl-ddi/ncnc.py --predictor ncnc --seeds 0    # after the NCN run

Writes experiments/ogbl-ddi/results/<predictor>.json (the project's results schema).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from graphcl.runner import run_experiment

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictor", default="ncnc")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--epochs", type=int, default=None, help="override the epochs of the run")
    ap.add_argument("--out", default=None, help="results JSON path")
    args = ap.parse_args()
    out = Path(args.out) if args.out else (REPO / "experiments" / "ogbl-ddi" / "results"
                                           / f"{args.predictor}.json")
    # NCN's best weights are kept next to the results so that NCNC (init_from: ncn) starts
    # from them
    overrides = {"save_checkpoint": True, **({"epochs": args.epochs} if args.epochs else {})}
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO),
                                                           *sys.argv[1:]])
    res = run_experiment(args.predictor, "ogbl-ddi", seeds=args.seeds, out=out,
                         overrides=overrides, command=command, verbose=True)
    m = res["metrics"]["test_hits@20"]
    std = f" ± {100 * m['std']:.2f}" if m["std"] is not None else ""
    print(f"{args.predictor} ogbl-ddi test Hits@20: {100 * m['mean']:.2f}{std} over "
          f"{len(m['values'])} seeds")


if __name__ == "__main__":
    main()
