r"""W2PGNN feasibility speed: graphcl's mixing-weight fit vs the released code's, in one run.

Both arms get the same inputs — the topo-variant bases of one candidate and the downstream
graphon, built by graphcl — at a common resolution ``r``, and fit the mixing weights with the
same Adam settings (lr 0.05, betas (0.9, 0.99), weight decay 1e-5) for ``--epochs`` epochs,
then compute the final KL-loss GW distance (POT, square-rooted) of the best mixture:

* released: the loss of every epoch is the released code's own differentiable entropic GW
  (``utils/other_gw.py: entropic_gw``, ε = 1e-5, up to 100 outer iterations of a log-domain
  Sinkhorn), imported from a checkout of ``caoyxuan/W2PGNN`` given with ``--original DIR``
  (not part of graphcl); the loop around it follows ``alpha_fit`` (softmax weights initialised
  uniform, best-loss mixture kept; its early stop is left out so both arms run every epoch);
* graphcl: :class:`~graphcl.train.graphon.MixtureFitTask` through the Engine (exact
  square-loss GW plan from POT, envelope gradient).

Reported per resolution: seconds of the fit, of the final distance, the ratio, and both
feasibilities. Run on an idle machine::

    python benchmarks/bench_w2pgnn.py --original /path/to/W2PGNN \
        --out benchmarks/results/bench_w2pgnn.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from graphcl.config import read_config
from graphcl.data.collection import as_collection
from graphcl.data.registry import load
from graphcl.methods import get_method
from graphcl.models.w2pgnn import GraphonMixtures
from graphcl.nn.graphon import estimate_graphon, gw_distance, resize
from graphcl.train.checkpoint import write_json_atomic
from graphcl.train.engine import Engine
from graphcl.train.graphon import MixtureFitTask


def inputs(downstream: str, candidate: str) -> tuple[list[torch.Tensor], torch.Tensor]:
    m = get_method("w2pgnn")
    cfg = m.configure(read_config(m.config_path()), (), {"pretrain": [candidate]})
    bases = m._bases(candidate, cfg, seed=0)
    target = estimate_graphon(as_collection(load(downstream), downstream), cfg["estimator"],
                              tv_weight=cfg["tv_weight"])
    return bases, target


def graphcl_arm(bases, target, r: int, epochs: int, eval_r: int | None = None,
                patience: int | None = None) -> dict:
    model = GraphonMixtures([torch.stack([resize(b, r) for b in bases])])
    task = MixtureFitTask(["c"], [bases], target, resize(target, r),
                          eval_resolution=eval_r or r)
    opt = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.99), weight_decay=1e-5)
    engine = Engine(model, opt, max_epochs=epochs, monitor="valid_gw", mode="min",
                    eval_splits=("valid",), patience=patience, progress=False)
    t0 = time.perf_counter()
    engine.fit(task)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    feas = task.evaluate(engine, "test")["feasibility:c"]
    return {"fit_seconds": fit, "final_seconds": time.perf_counter() - t0, "feasibility": feas,
            "alpha": model.alpha(0, best=True).tolist(), "epochs": engine.epoch}


def released_arm(original: str, bases, target, r: int, epochs: int,
                 early_stop: bool = False) -> dict:
    sys.path.insert(0, str(Path(original)))
    from utils.other_gw import entropic_gw  # the released code's differentiable GW

    b = torch.stack([resize(x, r) for x in bases])
    t = resize(target, r)
    logits = torch.nn.Parameter(torch.ones(b.size(0), dtype=torch.float64))
    opt = torch.optim.Adam([logits], lr=0.05, betas=(0.9, 0.99), weight_decay=1e-5)
    best, best_w = float("inf"), None
    t0 = time.perf_counter()
    strikes, done = 0, 0
    for i in range(epochs):
        if i % 20 == 0:  # the released early stop: patience 3 after epoch 30, reset every 20
            strikes = 0
        w = torch.einsum("k,kij->ij", torch.softmax(logits, 0), b)
        opt.zero_grad()
        loss = entropic_gw(w, t, device="cpu")
        loss.backward()
        done = i + 1
        if float(loss.detach()) < best:
            best, best_w = float(loss.detach()), w.detach().clone()
        elif early_stop and i > 30:
            strikes += 1
            if strikes >= 3:
                break
        opt.step()
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    feas = -gw_distance(best_w, t)
    return {"fit_seconds": fit, "final_seconds": time.perf_counter() - t0, "feasibility": feas,
            "alpha": torch.softmax(logits.detach(), 0).tolist(), "epochs": done}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True, help="checkout of caoyxuan/W2PGNN")
    ap.add_argument("--downstream", default="mutag")
    ap.add_argument("--candidate", default="ptc_mr")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[50, 100])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--defaults", action="store_true",
                    help="instead: each arm at its own defaults (graphcl: fit at 100, patience "
                         "10, final at 1000; released: fit and final at 1000, its early stop), "
                         "up to 100 epochs")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bases, target = inputs(args.downstream, args.candidate)
    rows = []
    if args.defaults:
        ours = graphcl_arm(bases, target, 100, 100, eval_r=1000, patience=10)
        theirs = released_arm(args.original, bases, target, 1000, 100, early_stop=True)
        total = {k: v["fit_seconds"] + v["final_seconds"] for k, v in
                 (("graphcl", ours), ("released", theirs))}
        row = {"resolution": "defaults", "graphcl": ours, "released": theirs,
               "total_speedup": total["released"] / total["graphcl"]}
        print(f"defaults: {total['graphcl']:.1f} s ({ours['epochs']} epochs) vs released "
              f"{total['released']:.1f} s ({theirs['epochs']} epochs): "
              f"{row['total_speedup']:.1f}x; feasibility {ours['feasibility']:.4f} vs "
              f"{theirs['feasibility']:.4f}", flush=True)
        rows.append(row)
        args.resolutions = []
    for r in args.resolutions:
        ours = graphcl_arm(bases, target, r, args.epochs)
        theirs = released_arm(args.original, bases, target, r, args.epochs)
        row = {"resolution": r, "graphcl": ours, "released": theirs,
               "fit_speedup": theirs["fit_seconds"] / ours["fit_seconds"]}
        rows.append(row)
        print(f"r={r}: fit {ours['fit_seconds']:.2f} s vs released {theirs['fit_seconds']:.2f} s "
              f"({row['fit_speedup']:.1f}x); feasibility {ours['feasibility']:.4f} vs "
              f"{theirs['feasibility']:.4f}", flush=True)
    result = {"downstream": args.downstream, "candidate": args.candidate, "bases": len(bases),
              "epochs": args.epochs, "threads": args.threads, "rows": rows,
              "command": "python benchmarks/bench_w2pgnn.py --original W2PGNN "
                         + " ".join(sys.argv[sys.argv.index("--original") + 2:])}
    if args.out:
        write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()
