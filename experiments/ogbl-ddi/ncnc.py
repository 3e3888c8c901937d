r"""NCN / NCNC on ogbl-ddi with the authors' protocol (Wang et al., ICLR 2024).

Official OGB split, Hits@20 with graphcl's Evaluator (same numbers as ``Evaluator('ogbl-ddi')``),
flags of models/ncnc.yaml (the authors' README commands). NCNC is the authors' recipe: train NCN
(100 epochs, node-id embeddings, ``--savemod``), then fine-tune 2 epochs with the completion head
and the MPNN frozen (gnnlr 0). An NCN checkpoint ``<ckpt-dir>/ncn_seed<k>.pt`` is reused if present.
Every epoch also writes ``<ckpt-dir>/<predictor>_seed<k>.state.pt``: re-running the same command
after a kill (or with more ``--epochs``) continues from the last finished epoch with identical
results. Use another ``--ckpt-dir`` for runs with other settings.

    python experiments/ogbl-ddi/ncnc.py --predictor ncn --seeds 0 --epochs 3
    python experiments/ogbl-ddi/ncnc.py --predictor ncnc --seeds 0 --ncn-epochs 100

Writes experiments/ogbl-ddi/results/<predictor>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import yaml

from graphcl.data.readers import read_ogb_linkprop
from graphcl.train.link import run_seeds

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictor", default="ncnc")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--epochs", type=int, default=None, help="override the epochs of the run")
    ap.add_argument("--ncn-epochs", type=int, default=None, help="override the epochs of the NCN that NCNC starts from")
    ap.add_argument("--data", default=os.environ.get("GRAPHCL_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--out", default=None, help="results JSON path")
    ap.add_argument("--ckpt-dir", default=str(REPO / "out" / "ogbl-ddi-ncn"), help="NCN checkpoints (git-ignored)")
    args = ap.parse_args()
    config = yaml.safe_load((REPO / "models" / "ncnc.yaml").read_text())
    dataset = read_ogb_linkprop(Path(args.data) / "ogbl-ddi")
    out = Path(args.out) if args.out else REPO / "experiments" / "ogbl-ddi" / "results" / f"{args.predictor}.json"
    # NCN checkpoints are kept so that NCNC (init_from: ncn) can start from them
    overrides = {"save_checkpoint": True, **({"epochs": args.epochs} if args.epochs else {})}
    init_overrides = {"save_checkpoint": True, **({"epochs": args.ncn_epochs} if args.ncn_epochs else {})}
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *sys.argv[1:]])
    res = run_seeds("ogbl-ddi", dataset, config, args.seeds, method=args.predictor, results_path=out,
                    command=command, predictor=args.predictor, overrides=overrides,
                    init_overrides=init_overrides, out_dir=Path(args.ckpt_dir))
    m = res["metrics"]["test_hits@20"]
    print(f"{args.predictor} ogbl-ddi test Hits@20: {100 * m['mean']:.2f} ± {100 * m['std']:.2f} over {len(m['values'])} seeds")


if __name__ == "__main__":
    main()
