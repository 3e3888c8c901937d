r"""Speed and memory of graphcl's GAE / NCN / NCNC link predictors (Wang et al., ICLR 2024 recipe).

Measures, per decoder, the training time per epoch, the evaluation time per epoch (valid + test
scoring) and the peak RSS, each decoder in its own subprocess so peak RSS is not shared:

* real Cora with the authors' Cora flags (models/ncnc.yaml), seed-0 split, ``--epochs`` timed
  epochs after one warm-up epoch;
* ogbl-ddi: ``--ddi-batches`` NCN training batches of the configured size (24,576) timed and
  extrapolated to one epoch (43 batches), plus one NCNC training batch of ``--ddi-ncnc-pairs``
  target pairs extrapolated the same way (the full epoch is far beyond a CPU budget).

The authors' code is **not** run here (it needs torch-sparse built from source, ~14 min on two
cores); the comparison is against the reference figures recorded in the project spec
(specs/ncnc.md §6.1b), measured with the authors' code on this 2-core CPU:
Cora 0.77 s/train epoch, 0.45 s/eval epoch, 123 s for 100 epochs, seed-0 test HR@100 0.892.

    python benchmarks/bench_ncnc.py                       # Cora (gae, ncn, ncnc) + ddi
    python benchmarks/bench_ncnc.py --skip-ddi --epochs 10 --out bench.json

Timings depend on the load of the machine: the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = {
    "source": "specs/ncnc.md §6.1b: authors' NeighborOverlap.py, real Cora, published flags, idle 2-core CPU",
    "cora_train_s_per_epoch": 0.77,
    "cora_eval_s_per_epoch": 0.45,
    "cora_total_100_epochs_s": 123.0,
    "cora_seed0_test_hits@100": 0.892,
}


def _child(args: argparse.Namespace) -> None:
    import resource
    import warnings

    import torch
    import yaml

    warnings.simplefilter("ignore")
    from graphcl.config import read_config
    from graphcl.data import load
    from graphcl.methods import get_method
    from graphcl.methods.ncnc import build_modules
    from graphcl.train.engine import Engine
    from graphcl.train.link import prepare_link_data, resolve_config
    from graphcl.train.seed import seed_everything

    config = read_config(REPO / "models" / "ncnc.yaml")
    out: dict = {"predictor": args.predictor, "dataset": args.dataset, "threads": torch.get_num_threads()}
    if args.dataset == "cora":
        # the method as `graphcl run` trains it: one warm-up epoch, then `--epochs` timed ones
        m = get_method(args.predictor)
        cfg = m.configure(config, ("cora",), {"epochs": args.epochs + 1})
        seed_everything(0)
        setup = m.build(load("cora"), cfg, 0)
        eng = Engine(setup.model, setup.optimizer, progress=False, **setup.engine)
        c0 = time.process_time()
        eng.fit(setup.task)
        tr, ev = eng.stats["train_seconds"][1:], eng.stats["eval_seconds"][1:]
        out.update(train_s_per_epoch=sum(tr) / len(tr), eval_s_per_epoch=sum(ev) / len(ev),
                   train_s_min=min(tr), eval_s_min=min(ev), epochs_timed=len(tr),
                   cpu_s_total=time.process_time() - c0)
    else:
        import torch.nn.functional as F

        from graphcl.data.readers import read_ogb_linkprop
        from graphcl.data.split import sample_train_negatives

        ds = read_ogb_linkprop(Path(args.data) / "ogbl-ddi")
        cfg = resolve_config(config, "ogbl-ddi", args.predictor)
        seed_everything(0)
        d = prepare_link_data("ogbl-ddi", ds, 0, cfg)
        mods = build_modules(cfg, d)
        enc, pred = mods["encoder"], mods["predictor"]
        if args.predictor != "ncn":
            enc.requires_grad_(False)  # the authors' NCNC fine-tune freezes the MPNN
        opt = torch.optim.Adam([p for p in list(enc.parameters()) + list(pred.parameters()) if p.requires_grad], lr=1e-3)
        bs = cfg["batch_size"] if args.predictor == "ncn" else args.ddi_ncnc_pairs
        n_batches = args.ddi_batches if args.predictor == "ncn" else 1
        num_train = d.split.train_pos.size(1)
        times = []
        enc.train()
        pred.train()
        for _ in range(n_batches):
            idx = torch.randperm(num_train)[:bs]
            pos = d.split.train_pos[:, idx]
            neg = sample_train_negatives(d.split, bs)
            t0 = time.perf_counter()
            adj = d.adj.remove_pairs(pos)
            h = enc(d.x, adj)
            logit = pred(h, adj, torch.cat([pos, neg], 1))
            loss = -F.logsigmoid(logit[:bs]).mean() - F.logsigmoid(-logit[bs:]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        per_batch = sum(times) / len(times)
        full_batches = num_train // cfg["batch_size"]
        scale = full_batches * (cfg["batch_size"] / bs)
        out.update(batch_pairs=bs, batches_timed=len(times), s_per_batch=per_batch,
                   train_s_per_epoch_extrapolated=per_batch * scale)
        if args.predictor == "ncn":
            # evaluation: score one test batch, extrapolate to valid + test (464,459 pairs)
            pairs = d.split.valid_pos[:, : cfg["testbs"] // 4]
            t0 = time.perf_counter()
            evaluate_once = pred.eval()
            with torch.no_grad():
                enc.eval()
                h = enc(d.x, d.adj)
                evaluate_once(h, d.adj, pairs)
            dt = time.perf_counter() - t0
            total_eval = sum(t.size(1) for t in (d.split.valid_pos, d.split.valid_neg, d.split.test_pos, d.split.test_neg))
            out.update(eval_s_per_epoch_extrapolated=dt * total_eval / pairs.size(1))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5, help="timed Cora epochs per decoder")
    ap.add_argument("--predictors", nargs="+", default=["gae", "ncn", "ncnc"])
    ap.add_argument("--skip-ddi", action="store_true")
    ap.add_argument("--skip-cora", action="store_true")
    ap.add_argument("--ddi-batches", type=int, default=2)
    ap.add_argument("--ddi-ncnc-pairs", type=int, default=64)
    ap.add_argument("--data", default=os.environ.get("GRAPHCL_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--out", default=None, help="write the results JSON (and a .md table) here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--predictor", help=argparse.SUPPRESS)
    ap.add_argument("--dataset", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    jobs = [] if args.skip_cora else [("cora", p) for p in args.predictors]
    if not args.skip_ddi:
        jobs += [("ogbl-ddi", "ncn"), ("ogbl-ddi", "ncnc")]
    rows = []
    for dataset, predictor in jobs:
        cmd = [sys.executable, __file__, "--child", "--dataset", dataset, "--predictor", predictor,
               "--epochs", str(args.epochs), "--ddi-batches", str(args.ddi_batches),
               "--ddi-ncnc-pairs", str(args.ddi_ncnc_pairs), "--data", args.data]
        load0 = os.getloadavg()[0]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise RuntimeError(f"benchmark child {dataset}/{predictor} failed:\n{res.stderr[-3000:]}")
        row = json.loads(line[0][7:])
        row["load_avg_1min_at_start"] = load0
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"reference_authors": REFERENCE, "rows": rows,
              "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]])}
    lines = ["| dataset | decoder | train s/epoch | eval s/epoch | CPU s (whole run) | peak RSS MB | speed-up vs authors (train, wall) | threads | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tr = r.get("train_s_per_epoch", r.get("train_s_per_epoch_extrapolated"))
        ev = r.get("eval_s_per_epoch", r.get("eval_s_per_epoch_extrapolated", float("nan")))
        sp = f"{REFERENCE['cora_train_s_per_epoch'] / tr:.2f}x" if r["dataset"] == "cora" else "n/a"
        ext = "" if r["dataset"] == "cora" else " (extrapolated)"
        cpu = r.get("cpu_s_total", float("nan"))
        lines.append(f"| {r['dataset']} | {r['predictor']} | {tr:.3f}{ext} | {ev:.3f} | {cpu:.3f} | {r['peak_rss_mb']:.0f} | {sp} | {r['threads']} | {r['load_avg_1min_at_start']:.1f} |")
    lines.append(f"\nAuthors' reference (not re-run): {REFERENCE}")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        Path(args.out).with_suffix(".md").write_text(f"Command: `{report['command']}`\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
