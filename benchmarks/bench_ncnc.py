r"""Speed and memory of graphcl's NCN-family link predictors, and optionally of the authors' code.

Measures, per decoder, the training time per epoch, the evaluation time per epoch (valid + test
scoring) and the peak RSS, each decoder in its own subprocess so peak RSS is not shared:

* real Cora with the authors' Cora flags (models/ncnc.yaml) through the engine, as
  ``graphcl run`` trains it: one warm-up epoch, then ``--epochs`` timed epochs;
* ogbl-ddi: ``--ddi-batches`` NCN training batches of the configured size (24,576) timed and
  extrapolated to one epoch (43 batches), plus one NCNC training batch of ``--ddi-ncnc-pairs``
  target pairs extrapolated the same way (the full epoch is far beyond a CPU budget);
* with ``--authors DIR`` (a checkout of GraphPKU/NeuralCommonNeighbor, with torch-sparse and
  torch-scatter importable by ``$AUTHORS_PYTHON`` and Cora's Planetoid files under
  ``DIR/dataset/Cora/raw``), the authors' ``NeighborOverlap.py`` on Cora with the same flags,
  in the same run: its per-epoch training and test times as it prints them, the warm-up epoch
  left out; the speed-up column divides the training times. ``$AUTHORS_PYTHON`` names the
  interpreter that has their dependencies (default: this one).

    python benchmarks/bench_ncnc.py --skip-ddi --epochs 5 --out benchmarks/results/bench_ncnc_cora.json
    python benchmarks/bench_ncnc.py --skip-ddi --authors /path/to/NeuralCommonNeighbor

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
AUTHORS_KEYS = {"ncn": "cn1", "ncnc": "incn1cn1", "gae_ncn_head": "cn0"}
AUTHORS_CORA_FLAGS = (
    "--xdp 0.7 --tdp 0.3 --pt 0.75 --gnnedp 0.0 --preedp 0.4 --predp 0.05 --gnndp 0.05 "
    "--probscale 4.3 --proboffset 2.8 --alpha 1.0 --gnnlr 0.0043 --prelr 0.0024 --batch_size 1152 "
    "--ln --lnnn --dataset Cora --runs 1 --model puregcn --hiddim 256 --mplayers 1 --testbs 8192 "
    "--maskinput --jk --use_xlin --tailact").split()


def _authors_epoch_seconds(folder: str, predictor: str, epochs: int) -> tuple[float, float]:
    r"""Training and evaluation seconds per epoch of the authors' NeighborOverlap.py, from the
    per-epoch times it prints (``trn time``, ``test time``), the first (warm-up) epoch left out."""
    cmd = [os.environ.get("AUTHORS_PYTHON", sys.executable), "NeighborOverlap.py", *AUTHORS_CORA_FLAGS, "--epochs",
           str(1 + epochs), "--predictor", AUTHORS_KEYS[predictor]]
    res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if res.returncode != 0:
        raise RuntimeError(f"the authors' code failed:\n{res.stderr[-2000:]}")
    trn = [float(x.split()[2]) for x in res.stdout.splitlines() if x.startswith("trn time")]
    tst = [float(x.split()[2]) for x in res.stdout.splitlines() if x.startswith("test time")]
    if len(trn) < 2 or len(tst) < 2:
        raise RuntimeError(f"no per-epoch times in the authors' output:\n{res.stdout[-2000:]}")
    return sum(trn[1:]) / len(trn[1:]), sum(tst[1:]) / len(tst[1:])


def _child(args: argparse.Namespace) -> None:
    import resource
    import warnings

    import torch

    warnings.simplefilter("ignore")
    from graphcl.config import read_config
    from graphcl.data import load
    from graphcl.methods import get_method
    from graphcl.methods.ncnc import build_modules
    from graphcl.train.engine import Engine
    from graphcl.train.link import prepare_link_data
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
        cfg = get_method(args.predictor).configure(config, ("ogbl-ddi",))
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
    ap.add_argument("--predictors", nargs="+", default=["gae_ncn_head", "ncn", "ncnc"])
    ap.add_argument("--skip-ddi", action="store_true")
    ap.add_argument("--skip-cora", action="store_true")
    ap.add_argument("--ddi-batches", type=int, default=2)
    ap.add_argument("--ddi-ncnc-pairs", type=int, default=64)
    ap.add_argument("--authors", default=None, help="checkout of the authors' code to time too")
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
        if args.authors and dataset == "cora" and predictor in AUTHORS_KEYS:
            # whole epochs (training + evaluation) of both codes
            tr_a, ev_a = _authors_epoch_seconds(args.authors, predictor, args.epochs)
            row.update(authors_train_s_per_epoch=tr_a, authors_eval_s_per_epoch=ev_a)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"rows": rows,
              "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]])}
    lines = ["| dataset | decoder | train s/epoch | eval s/epoch | CPU s (whole run) | peak RSS MB | authors train / eval s/epoch | train speed-up vs authors | threads | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tr = r.get("train_s_per_epoch", r.get("train_s_per_epoch_extrapolated"))
        ev = r.get("eval_s_per_epoch", r.get("eval_s_per_epoch_extrapolated", float("nan")))
        au = r.get("authors_train_s_per_epoch")
        sp = f"{au / tr:.2f}x" if au else "not measured"
        au_s = f"{au:.3f} / {r['authors_eval_s_per_epoch']:.3f}" if au else "–"
        ext = "" if r["dataset"] == "cora" else " (extrapolated)"
        cpu = r.get("cpu_s_total", float("nan"))
        lines.append(f"| {r['dataset']} | {r['predictor']} | {tr:.3f}{ext} | {ev:.3f} | {cpu:.3f} | {r['peak_rss_mb']:.0f} | {au_s} | {sp} | {r['threads']} | {r['load_avg_1min_at_start']:.1f} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        Path(args.out).with_suffix(".md").write_text(f"Command: `{report['command']}`\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
