r"""TGN vs TGN+PRES under the TGN protocol on a temporal dataset (Wikipedia or UCI).

Runs the configurations of ``models/tgn.yaml`` / ``models/pres.yaml`` for several seeds through
``graphcl``'s runner (the same code and results schema as ``graphcl run``) and writes one
results JSON per configuration plus a markdown table into ``--out``; ``--sweep`` runs the
AP-vs-temporal-batch-size study with and without PRES instead.

Examples::

    python experiments/wikipedia/run.py --dataset wikipedia --seeds 0 1 2
    python experiments/wikipedia/run.py --dataset wikipedia --sweep 200 400 800 1600 --seeds 0
    python experiments/wikipedia/run.py --dataset uci --set query_time=event \
        batch_neighbors=true --out experiments/uci/results/3-tgn-neighbourhood-5ep
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import torch

from graphcl.config import parse_set, read_config
from graphcl.evaluate.plot import line_chart_svg
from graphcl.runner import json_safe, resolve, run_experiment
from graphcl.train.checkpoint import write_json_atomic

REPO = Path(__file__).resolve().parents[2]
CARDS = {"wikipedia": "wikipedia-nofeat", "uci": "collegemsg"}


def configs(dataset: str) -> dict[str, tuple[str, Path]]:
    r"""The compared configurations, as (method, config file): TGN at its usual batch, TGN at
    PRES's large batch (``models/pres.yaml`` without PRES), and TGN+PRES at the large batch."""
    card = CARDS[dataset]
    small = read_config(REPO / "models" / "tgn.yaml")
    large = read_config(REPO / "models" / "pres.yaml")

    def bs(cfg: dict) -> int:
        sec = cfg.get("datasets", {}).get(card) or {}
        return int(sec.get("batch_size", cfg["defaults"]["batch_size"]))

    tgn, pres = REPO / "models" / "tgn.yaml", REPO / "models" / "pres.yaml"
    return {f"tgn_b{bs(small)}": ("tgn", tgn), f"tgn_b{bs(large)}": ("tgn", pres),
            f"tgn+pres_b{bs(large)}": ("pres", pres)}


def run_config(name: str, method: str, config: Path, data: tuple, seeds: list[int], out: Path,
               overrides: dict, command: str) -> dict:
    r"""``graphcl run``'s runner for one configuration: ``out/<name>.json`` in the project's
    results schema. A killed seed resumes from its last epoch; a rerun with more seeds runs
    only the new ones."""
    if method == "tgn":  # PRES keys only apply to the PRES configurations
        overrides = {k: v for k, v in overrides.items() if not k.startswith("pres.")}
    res = run_experiment(method, data[0], config=config, seeds=seeds, out=out / f"{name}.json",
                         overrides=overrides, command=command, progress=False, data=data)
    m = res["metrics"]
    print(f"[{data[0]}] {name}: test AP {fmt(m, 'test_ap')} ({len(seeds)} seeds, "
          f"{res['wall_time_s']:.0f} s)", flush=True)
    return res


def fmt(m: dict, key: str, scale: float = 100.0) -> str:
    if key not in m or m[key]["mean"] is None:
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
            f"| {r.get('label', r['method'])} | {r['config']['batch_size']} | {fmt(m, 'test_ap')} | "
            f"{fmt(m, 'test_auc')} | {fmt(m, 'test_mrr')} | {fmt(m, 'test_ind_ap')} | "
            f"{fmt(m, 'test_ind_auc')} | {fmt(m, 'test_ind_mrr')} | {fmt(m, 'valid_ap')} | "
            f"{r['stats']['train_s_per_epoch']['mean']:.1f} | {len(r['seeds'])} |")
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
            label = rec_path.stem
            if isinstance(pres, dict):
                gamma = pres.get("gamma", 0)
                label += f" γ={gamma:g}" + (f" {pres.get('scope', 'batch')}" if gamma else "")
            curves = rec.get("val_ap_curves") or dict(
                zip(map(str, rec.get("seeds", [])), (rec.get("curves") or {}).get("valid_ap", []),
                    strict=False))
            for seed, curve in curves.items():
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
    parser.add_argument("--dataset", default=default_dataset, choices=sorted(CARDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override the YAML's epochs")
    parser.add_argument("--only", nargs="*", default=None, help="subset of configurations")
    parser.add_argument("--sweep", type=int, nargs="*", default=None,
                        help="temporal batch sizes of the AP-vs-batch study")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override config keys of every configuration (YAML values); "
                             "pres.KEY only reaches the PRES configurations")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw sweep.svg from the sweep.json in --out and exit")
    parser.add_argument("--plot-curves", type=Path, nargs="+", default=None, metavar="DIR",
                        help="draw the per-epoch validation AP of the records in these "
                             "folders into --out/curves.svg and exit")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.out is None:
        parser.error("--out is required: experiments/<dataset>/results/<study> (one folder per study)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_curves:
        print(draw_curves(args.plot_curves, out / "curves.svg"))
        return
    if args.plot_only:
        rows = json.loads((out / "sweep.json").read_text())["rows"]
        print(draw_sweep(rows, args.dataset, out / "sweep.svg"))
        return
    try:
        overrides = parse_set(args.set)
    except ValueError as err:
        parser.error(str(err))
    if args.epochs:
        overrides["epochs"] = args.epochs
    data = resolve(CARDS[args.dataset])
    cfgs = configs(args.dataset)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    if args.sweep:
        large = next(k for k in cfgs if k.startswith("tgn+pres"))
        lr = float(read_config(cfgs[large][1])["datasets"].get(CARDS[args.dataset], {}).get(
            "lr", read_config(cfgs[large][1])["defaults"]["lr"]))
        rows = []  # a rerun (after a kill) reuses each point's finished seeds
        for bs in args.sweep:
            for with_pres in (False, True):
                method = "pres" if with_pres else "tgn"
                # same optimiser as the PRES runs
                over = {"lr": lr, **overrides, "batch_size": bs}
                name = f"sweep_{'tgn+pres' if with_pres else 'tgn'}_b{bs}"
                rec = run_config(name, method, cfgs[large][1], data, args.seeds, out, over,
                                 command)
                pres = rec["config"].get("pres") if with_pres else None
                sd = rec["metrics"]["test_ap"]["std"]
                rows.append({"batch_size": bs, "pres": with_pres,
                             "pres_gamma": pres.get("gamma") if pres else None,
                             "pres_scope": pres.get("scope", "batch") if pres else None,
                             "test_ap": rec["metrics"]["test_ap"]["mean"],
                             "test_ap_std": sd if isinstance(sd, float) and math.isfinite(sd)
                             else None,
                             "valid_ap": rec["metrics"]["valid_ap"]["mean"],
                             "train_epoch_seconds": rec["stats"]["train_s_per_epoch"]["mean"]})
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
    records = []
    for name in args.only or list(cfgs):
        method, config = cfgs[name]
        rec = run_config(name, method, config, data, args.seeds, out, overrides, command)
        records.append({**rec, "label": name})
        (out / "results.md").write_text(table(records, command))


if __name__ == "__main__":
    main()
