r"""TGN vs TGN+PRES under the TGN protocol on a temporal dataset (Wikipedia or UCI).

Runs the configurations of ``models/tgn.yaml`` / ``models/pres.yaml`` for several seeds and
writes one results JSON per configuration plus a markdown table into ``--out``; ``--sweep``
runs the AP-vs-temporal-batch-size study with and without PRES instead.

Examples::

    python experiments/wikipedia/run.py --dataset wikipedia --seeds 0 1 2
    python experiments/wikipedia/run.py --dataset wikipedia --sweep 200 400 800 1600 --seeds 0
    python experiments/wikipedia/run.py --dataset uci --set query_time=event \
        batch_neighbors=true --out experiments/uci/results_batch_neighbors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import torch
import yaml

from graphcl.config import parse_set
from graphcl.data import readers
from graphcl.evaluate.plot import line_chart_svg
from graphcl.evaluate.runs import aggregate
from graphcl.runners import json_safe
from graphcl.train.checkpoint import write_json_atomic
from graphcl.train.temporal import config_fingerprint, resolve_config, run_temporal_link

REPO = Path(__file__).resolve().parents[2]
FILES = {
    "wikipedia": ("jodie", "jodie-wikipedia-nofeat/wikipedia_uitl.csv"),
    "uci": ("snap_temporal", "collegemsg/CollegeMsg.txt"),
}
METRICS = ("valid_ap", "valid_auc", "test_ap", "test_auc", "test_mrr", "ind_valid_ap",
           "ind_valid_auc", "ind_test_ap", "ind_test_auc", "ind_test_mrr",
           "train_epoch_seconds", "best_epoch", "epochs_run", "pres_gamma")


def data_root() -> Path:
    env = os.environ.get("GRAPHCL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load(name: str):
    fmt, rel = FILES[name]
    path = data_root() / rel
    return readers.read_jodie(path) if fmt == "jodie" else readers.read_snap_temporal(path)


def configs(dataset: str) -> dict[str, dict]:
    r"""The compared configurations: TGN at its usual batch, TGN at the large batch, and
    TGN+PRES at the large batch (identical except for PRES)."""
    tgn = yaml.safe_load((REPO / "models" / "tgn.yaml").read_text())
    pres = yaml.safe_load((REPO / "models" / "pres.yaml").read_text())
    base = resolve_config(tgn, dataset)
    large = resolve_config(pres, dataset)
    no_pres = dict(large, pres=None)
    return {f"tgn_b{base['batch_size']}": base, f"tgn_b{large['batch_size']}": no_pres,
            f"tgn+pres_b{large['batch_size']}": large}


def versions() -> dict[str, str]:
    import torch_geometric

    import graphcl

    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__, "graphcl": graphcl.__version__}


def _plain(obj):
    # what a record looks like once written: strict JSON, NaN as null
    return json_safe(json.loads(json.dumps(obj, default=str)))


def finished_seeds(path: Path, dataset: str, cfg: dict) -> dict[int, dict]:
    r"""Per-seed metrics of an earlier record at ``path`` made with the same dataset and
    configuration (so that a rerun with more seeds, or after a kill, only runs the missing
    ones); empty when there is none or it differs."""
    if not path.exists():
        return {}
    rec = json.loads(path.read_text())
    if rec.get("dataset") != dataset or rec.get("config") != _plain(cfg):
        return {}
    curves = rec.get("val_ap_curves", {})
    done = {int(s): {k: m["values"][i] for k, m in rec["metrics"].items()}
            for i, s in enumerate(rec["seeds"])}
    for s, res in done.items():
        if str(s) in curves:
            res["val_ap_curve"] = curves[str(s)]
    return done


def run_config(name: str, dataset: str, data, cfg: dict, seeds: list[int], out: Path,
               keep_state: bool = False) -> dict:
    r"""Runs ``cfg`` for every seed not already in ``out/<name>.json`` (same dataset and
    config) and rewrites that record after each seed. A killed seed resumes from its last
    epoch (``<name>_seed<k>_<config hash>.state.pt``, deleted once the seed is recorded unless
    ``keep_state``: a kept state lets a rerun with a higher epoch cap or patience continue)."""
    start = time.perf_counter()
    path = out / f"{name}.json"
    done = finished_seeds(path, dataset, cfg)
    per_seed, ran, reused = [], [], []
    record: dict = {}
    for seed in seeds:
        if seed in done:
            res = done[seed]
            reused.append(seed)
            print(f"[{dataset}] {name} seed {seed}: reused from {path}", flush=True)
        else:
            t0 = time.perf_counter()
            key = hashlib.sha1(config_fingerprint(resolve_config(cfg), seed).encode())
            state = out / f"{name}_seed{seed}_{key.hexdigest()[:10]}.state.pt"  # git-ignored
            res = run_temporal_link(data, cfg, seed, state_path=state)
            ran.append(seed)
            print(f"[{dataset}] {name} seed {seed}: "
                  + " ".join(f"{k}={v:.4f}" for k, v in res.items() if k in METRICS)
                  + f" ({time.perf_counter() - t0:.0f}s)", flush=True)
        per_seed.append(res)
        record = {
            "method": name, "dataset": dataset,
            "metrics": {k: aggregate([r[k] for r in per_seed]) for k in METRICS
                        if all(k in r for r in per_seed)},
            "seeds": seeds[: len(per_seed)], "reused_seeds": reused, "config": cfg,
            # validation AP after every epoch, per seed (to see whether a run had converged)
            "val_ap_curves": {str(s): r["val_ap_curve"] for s, r in
                              zip(seeds[: len(per_seed)], per_seed, strict=True)
                              if "val_ap_curve" in r},
            "wall_time_s": time.perf_counter() - start,  # of the seeds run by this command
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "command": "python " + " ".join(sys.argv), "versions": versions(),
            "threads": torch.get_num_threads(),
        }
        if ran:  # strict JSON, written atomically: one seed's std is null, not NaN
            write_json_atomic(path, _plain(record))
            if not keep_state and ran[-1] == seed:
                state.unlink(missing_ok=True)
    return record


def fmt(m: dict, key: str, scale: float = 100.0) -> str:
    if key not in m:
        return "–"
    return f"{scale * m[key]['mean']:.2f} ± {scale * m[key]['std']:.2f}" if len(
        m[key]["values"]) > 1 else f"{scale * m[key]['mean']:.2f}"


def table(records: list[dict], command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "| config | batch | test AP | test AUC | test MRR | ind. test AP | ind. test AUC "
             "| ind. test MRR | val AP | train s/epoch | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        m = r["metrics"]
        lines.append(
            f"| {r['method']} | {r['config']['batch_size']} | {fmt(m, 'test_ap')} | "
            f"{fmt(m, 'test_auc')} | {fmt(m, 'test_mrr')} | {fmt(m, 'ind_test_ap')} | "
            f"{fmt(m, 'ind_test_auc')} | {fmt(m, 'ind_test_mrr')} | {fmt(m, 'valid_ap')} | "
            f"{m['train_epoch_seconds']['mean']:.1f} | {len(r['seeds'])} |")
    return "\n".join(lines) + "\n"


def draw_curves(dirs: list[Path], path: Path) -> Path:
    r"""Validation AP after every epoch (``val_ap_curves``) of every record in ``dirs``, one
    line per configuration and seed (``curves.svg``)."""
    series = {}
    for d in dirs:
        for rec_path in sorted(Path(d).glob("*.json")):
            rec = json.loads(rec_path.read_text())
            cfg = rec.get("config") or {}
            pres = cfg.get("pres")
            label = rec.get("method", rec_path.stem)
            if isinstance(pres, dict):
                gamma = pres.get("gamma", 0)
                label += f" γ={gamma:g}" + (f" {pres.get('scope', 'batch')}" if gamma else "")
            for seed, curve in (rec.get("val_ap_curves") or {}).items():
                key = f"{label} s{seed}"
                if key in series:  # the same configuration in two folders
                    key = f"{label} ({d.name}) s{seed}"
                series[key] = [(i + 1, 100 * v) for i, v in enumerate(curve)]
    if not series:
        raise SystemExit(f"no val_ap_curves in the records of {[str(d) for d in dirs]}")
    return line_chart_svg(series, path, title="Validation AP per epoch", xlabel="epoch",
                          ylabel="validation AP (%)", width=720, height=440)


def draw_sweep(rows: list[dict], dataset: str, path: Path) -> Path:
    r"""AP vs temporal batch size, with and without PRES (``sweep.svg``)."""
    gammas = {r.get("pres_gamma") for r in rows if r["pres"]} - {None}
    scopes = {r.get("pres_scope") for r in rows if r["pres"]} - {None, "batch"}
    parts = ([f"{scopes.pop()} scope"] if len(scopes) == 1 else []) + (
        [f"γ = {gammas.pop():g}"] if len(gammas) == 1 else [])
    pres_label = "TGN + PRES" + (f" ({', '.join(parts)})" if parts else "")
    arms = ((False, "TGN"), (True, pres_label))
    series = {label: [(r["batch_size"], 100 * r["test_ap"]) for r in rows if r["pres"] == flag]
              for flag, label in arms}
    def std(r: dict) -> float:  # one seed: no spread (null in the records)
        v = r.get("test_ap_std")
        return 100 * v if isinstance(v, (int, float)) and math.isfinite(v) else 0.0

    errors = {label: [std(r) for r in
                      sorted((r for r in rows if r["pres"] == flag), key=lambda r: r["batch_size"])]
              for flag, label in arms}
    return line_chart_svg({k: v for k, v in series.items() if v}, path, log_x=True,
                          errors={k: v for k, v in errors.items() if v},
                          title=f"{dataset}: test AP vs temporal batch size",
                          xlabel="temporal batch size", ylabel="test AP (%)")


def main(argv: list[str] | None = None, default_dataset: str = "wikipedia") -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default=default_dataset, choices=sorted(FILES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override the YAML's epochs")
    parser.add_argument("--only", nargs="*", default=None, help="subset of configurations")
    parser.add_argument("--sweep", type=int, nargs="*", default=None,
                        help="temporal batch sizes of the AP-vs-batch study")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override config keys of every configuration (YAML values); "
                             "SECTION.KEY sets a key of a section, e.g. pres.in_eval=false")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw sweep.svg from the sweep.json in --out and exit")
    parser.add_argument("--plot-curves", type=Path, nargs="+", default=None, metavar="DIR",
                        help="draw the per-epoch validation AP of the records in these "
                             "folders into --out/curves.svg and exit")
    parser.add_argument("--keep-state", action="store_true",
                        help="keep each seed's per-epoch resume state after it is recorded, "
                             "so that a rerun with more epochs or patience continues it")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or Path(__file__).resolve().parents[1] / args.dataset / "results"
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_curves:
        print(draw_curves(args.plot_curves, out / "curves.svg"))
        return
    if args.plot_only:
        rows = json.loads((out / "sweep.json").read_text())["rows"]
        print(draw_sweep(rows, args.dataset, out / "sweep.svg"))
        return
    data = load(args.dataset)
    cfgs = configs(args.dataset)
    try:
        overrides = parse_set(args.set)
    except ValueError as err:
        parser.error(str(err))
    for key, value in overrides.items():
        parent, _, leaf = key.rpartition(".")
        for cfg in cfgs.values():
            if parent:  # e.g. pres.in_eval=false: only configurations that have a `pres` section
                if isinstance(cfg.get(parent), dict):
                    cfg[parent] = {**cfg[parent], leaf: value}
            else:
                cfg[key] = value
    command = "python " + " ".join(sys.argv)
    if args.sweep:
        large = cfgs[next(k for k in cfgs if k.startswith("tgn+pres"))]
        base = cfgs[next(iter(cfgs))]
        rows = []  # a rerun (after a kill) reuses each point's finished seeds (run_config)
        for bs in args.sweep:
            for with_pres in (False, True):
                cfg = dict(large if with_pres else base, batch_size=bs)
                if not with_pres:
                    cfg["pres"] = None
                    cfg["lr"] = large["lr"]  # same optimiser as the PRES runs
                if args.epochs:
                    cfg["epochs"] = args.epochs
                name = f"sweep_{'tgn+pres' if with_pres else 'tgn'}_b{bs}"
                rec = run_config(name, args.dataset, data, cfg, args.seeds, out,
                                 args.keep_state)
                rows.append({"batch_size": bs, "pres": with_pres,
                             "pres_gamma": (cfg["pres"].get("gamma") if with_pres and isinstance(
                                 cfg["pres"], dict) else None),
                             "pres_scope": (cfg["pres"].get("scope", "batch") if with_pres
                                            and isinstance(cfg["pres"], dict) else None),
                             "test_ap": rec["metrics"]["test_ap"]["mean"],
                             "test_ap_std": (sd if isinstance(sd := rec["metrics"]["test_ap"]["std"],
                                                              float) and math.isfinite(sd) else None),
                             "valid_ap": rec["metrics"]["valid_ap"]["mean"],
                             "train_epoch_seconds": rec["metrics"]["train_epoch_seconds"]["mean"]})
                write_json_atomic(out / "sweep.json", json_safe({"command": command, "rows": rows}))
        lines = [f"Command: `{command}`", "", "| batch | TGN test AP | TGN+PRES test AP | "
                 "TGN s/epoch | TGN+PRES s/epoch |", "|---|---|---|---|---|"]
        for bs in args.sweep:
            a = next(r for r in rows if r["batch_size"] == bs and not r["pres"])
            b = next(r for r in rows if r["batch_size"] == bs and r["pres"])
            lines.append(f"| {bs} | {100 * a['test_ap']:.2f} | {100 * b['test_ap']:.2f} | "
                         f"{a['train_epoch_seconds']:.1f} | {b['train_epoch_seconds']:.1f} |")
        (out / "sweep.md").write_text("\n".join(lines) + "\n")
        draw_sweep(rows, args.dataset, out / "sweep.svg")
        return
    names = args.only or list(cfgs)
    records = []
    for name in names:
        cfg = dict(cfgs[name])
        if args.epochs:
            cfg["epochs"] = args.epochs
        records.append(run_config(name, args.dataset, data, cfg, args.seeds, out,
                                  args.keep_state))
        (out / "results.md").write_text(table(records, command))


if __name__ == "__main__":
    main()
