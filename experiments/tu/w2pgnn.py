r"""W2PGNN validated against real pre-training gains on TU collections (issue: W2PGNN).

For every (pre-training set C, downstream collection D) pair, C != D:

1. ``pretrain``: a GIN encoder pre-trained with GraphCL on C (a TU collection, or the 2-hop
   ego-networks of a citation graph), one encoder per C;
2. ``finetune``: GIN fine-tuned on D from that encoder and from scratch, the same seeded
   splits, structural inputs (one-hot degree) so that every encoder fits every D; the gain is
   the paired mean over seeds of test accuracy(C) - accuracy(scratch);
3. ``feasibility``: ``graphcl run w2pgnn --dataset D --set pretrain=[every C]`` for each
   variant (topo / integr bases, the released code's TV weight, USVT, the square loss instead
   of KL for the final distance, the final distance at r = 200 instead of 1000);
4. ``probe``: a second, deterministic ground truth — the linear-probe accuracy of every frozen
   encoder on every D against randomly initialised encoders;
5. ``--table``: Pearson and Spearman correlations (with p-values) between feasibility and gain
   over all pairs and within each downstream set, the data-selection comparison (the
   candidate W2PGNN ranks first vs a random pick vs the best), a graph-statistics baseline, and
   the plot ``results/w2pgnn/feasibility-gain.svg``; written to ``results/w2pgnn.json``.

Every step is the CLI command printed before it; finished runs are skipped (a killed run
resumes). Examples::

    python experiments/tu/w2pgnn.py --steps pretrain finetune feasibility probe
    python experiments/tu/w2pgnn.py --table
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parents[1]
RES = ROOT / "results" / "w2pgnn"
DOWNSTREAM = ("mutag", "ptc_mr", "proteins", "enzymes", "nci1", "imdb-binary")
CANDIDATES = DOWNSTREAM + ("cora", "citeseer", "cora-ml")
# semi-supervised fine-tuning (10 % labelled graphs, as GraphCL's semi-supervised protocol;
# pre-training helps most when labels are scarce, and an 80 % test split lowers the noise):
# the zoo's TU GIN (models/gnn.yaml, lr 0.01), 50 epochs without early stopping, test at the
# best validation epoch
FINETUNE = ["features=degree", "train_ratio=0.1", "val_ratio=0.1", "epochs=50", "patience=null",
            "test_every_epoch=false"]
# the defaults (final distance at r = 1000), then ablations with the final distance at 200
# (topo-r200 against topo measures that resolution trade-off on every pair)
VARIANTS = {
    "topo": [],
    "topo-r200": ["eval_resolution=200"],
    "integr-r200": ["variant=integr", "eval_resolution=200"],
    "topo-released-tv-r200": ["tv_weight=null", "eval_resolution=200"],
    "topo-usvt-r200": ["estimator=usvt", "eval_resolution=200"],
    "topo-square-r200": ["loss=square", "eval_resolution=200"],
}


def _rel(p: Path) -> str:
    return str(p.relative_to(REPO))


def encoder(c: str) -> Path:
    return RES / "encoders" / f"{c}.pt"


def commands(step: str, seeds: int, variants: list[str]) -> list[tuple[Path, list[str]]]:
    out = []
    if step == "pretrain":
        for c in CANDIDATES:
            res = RES / "pretrain" / f"{c}.json"
            out.append((res, ["graphcl", "run", "pretrain", "--dataset", c, "--set",
                              f"save={_rel(encoder(c))}", "--out", _rel(res)]))
    elif step == "finetune":
        for d in DOWNSTREAM:
            for arm in ("scratch",) + tuple(c for c in CANDIDATES if c != d):
                res = RES / "finetune" / d / f"{arm}.json"
                init = [] if arm == "scratch" else [f"init={_rel(encoder(arm))}"]
                out.append((res, ["graphcl", "run", "gnn", "--dataset", d, "--seeds", str(seeds),
                                  "--set", *FINETUNE, *init, "--out", _rel(res)]))
    elif step == "feasibility":
        for v in variants:
            for d in DOWNSTREAM:
                res = RES / "feasibility" / v / f"{d}.json"
                cands = ", ".join(c for c in CANDIDATES if c != d)
                out.append((res, ["graphcl", "run", "w2pgnn", "--dataset", d, "--set",
                                  f"pretrain=[{cands}]", *VARIANTS[v], "--out", _rel(res)]))
    return out


def probe(seeds: int) -> None:
    r"""Linear evaluation (GraphCL's unsupervised protocol), a low-noise second ground truth:
    the frozen encoder's summed node embeddings of every graph of D, a standardised logistic
    regression, 10-fold stratified cross-validation accuracy; the reference is the mean over
    ``seeds`` randomly initialised encoders of the same shape. Deterministic given the
    encoders; written to ``results/w2pgnn/probe.json``."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from torch_geometric.loader import DataLoader
    from torch_geometric.nn import global_add_pool

    from graphcl.data import resolve_dataset
    from graphcl.data.collection import with_degree_features
    from graphcl.models.gnn import GNNClassifier
    from graphcl.train.checkpoint import load_checkpoint, write_json_atomic

    out_path = RES / "probe.json"
    if out_path.exists():
        return
    torch.set_num_threads(1)

    def encoder_from(state: dict | None, seed: int) -> GNNClassifier:
        torch.manual_seed(seed)
        m = GNNClassifier(17, 64, 64, 4, "gin", 0.0, pool="add")
        if state is not None:
            m.gnn.load_state_dict(state)
        return m.eval()

    def accuracy(model: GNNClassifier, graphs: list, y: np.ndarray) -> float:
        with torch.no_grad():
            z = torch.cat([global_add_pool(model.gnn(b.x, b.edge_index), b.batch)
                           for b in DataLoader(graphs, 256)]).numpy()
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        folds = StratifiedKFold(10, shuffle=True, random_state=0)
        return float(cross_val_score(clf, z, y, cv=folds).mean())

    result: dict = {}
    for d in DOWNSTREAM:
        graphs = with_degree_features(resolve_dataset(d)[1], 16)
        y = np.array([int(g.y) for g in graphs])
        base = [accuracy(encoder_from(None, s), graphs, y) for s in range(seeds)]
        result[d] = {"random": base}
        for c in CANDIDATES:
            if c != d:
                state = load_checkpoint(encoder(c))["state_dict"]
                result[d][c] = accuracy(encoder_from(state, 0), graphs, y)
        print(f"probe {d}: random {100 * np.mean(base):.2f}", flush=True)
    write_json_atomic(out_path, result)


def run(steps: list[str], seeds: int, variants: list[str]) -> None:
    for step in steps:
        if step == "probe":
            probe(seeds)
            continue
        for res, cmd in commands(step, seeds, variants):
            if res.exists():
                continue
            print("$ " + " ".join(shlex.quote(a) for a in cmd), flush=True)
            exe = [str(Path(sys.executable).parent / "graphcl"), *cmd[1:]]
            subprocess.run(exe, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------
def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def gains() -> dict[tuple[str, str], dict[str, float]]:
    out = {}
    for d in DOWNSTREAM:
        base = _load(RES / "finetune" / d / "scratch.json")
        if base is None:
            continue
        b = base["metrics"]["test_acc"]["values"]
        for c in CANDIDATES:
            r = _load(RES / "finetune" / d / f"{c}.json")
            if c == d or r is None:
                continue
            a = r["metrics"]["test_acc"]["values"]
            diffs = [x - y for x, y in zip(a, b, strict=True)]
            out[(c, d)] = {"gain": 100 * sum(diffs) / len(diffs), "acc": 100 * sum(a) / len(a),
                           "scratch": 100 * sum(b) / len(b)}
    return out


def probe_gains() -> dict[tuple[str, str], dict[str, float]]:
    r = _load(RES / "probe.json")
    if r is None:
        return {}
    out = {}
    for d, row in r.items():
        base = 100 * sum(row["random"]) / len(row["random"])
        for c, acc in row.items():
            if c != "random":
                out[(c, d)] = {"gain": 100 * acc - base, "acc": 100 * acc, "scratch": base}
    return out


def feasibilities(variant: str) -> dict[tuple[str, str], dict[str, float]]:
    out = {}
    for d in DOWNSTREAM:
        r = _load(RES / "feasibility" / variant / f"{d}.json")
        if r is None:
            continue
        m = r["metrics"]
        for c in CANDIDATES:
            if f"test_feasibility:{c}" in m:
                out[(c, d)] = {"feasibility": m[f"test_feasibility:{c}"]["mean"],
                               "uniform": m[f"test_feasibility_uniform:{c}"]["mean"],
                               "seconds": r["wall_time_s"]}
    return out


def statistics_similarity() -> dict[tuple[str, str], float]:
    r"""Baseline: minus the Euclidean distance between the mean standardised topology
    statistics of C and D (the "graph statistics" measure W2PGNN is compared with)."""
    import torch

    from graphcl.data import resolve_dataset
    from graphcl.data.collection import as_collection
    from graphcl.nn.graphon import topology_statistics

    means = {}
    for c in CANDIDATES:
        gb = as_collection(resolve_dataset(c)[1], c, seed=0, sample=1000)
        means[c] = topology_statistics(gb).mean(0)
    table = torch.stack(list(means.values()))
    mu, sd = table.mean(0), table.std(0).clamp(min=1e-12)
    z = {c: (v - mu) / sd for c, v in means.items()}
    return {(c, d): -float((z[c] - z[d]).norm()) for c in CANDIDATES for d in DOWNSTREAM
            if c != d}


def _corr(x: list[float], y: list[float]) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    if len(x) < 3:
        nan = float("nan")
        return {"pearson": nan, "pearson_p": nan, "spearman": nan, "spearman_p": nan,
                "pairs": len(x)}
    p, s = pearsonr(x, y), spearmanr(x, y)
    return {"pearson": float(p.statistic), "pearson_p": float(p.pvalue),
            "spearman": float(s.statistic), "spearman_p": float(s.pvalue), "pairs": len(x)}


def analyse(measure: dict[tuple[str, str], float], g: dict) -> dict:
    pairs = sorted(set(measure) & set(g))
    res = {"all": _corr([measure[p] for p in pairs], [g[p]["gain"] for p in pairs])}
    per, pick = {}, {}
    for d in DOWNSTREAM:
        ps = [p for p in pairs if p[1] == d]
        if len(ps) < 3:
            continue
        per[d] = _corr([measure[p] for p in ps], [g[p]["gain"] for p in ps])
        chosen = max(ps, key=lambda p: measure[p])
        gains_d = [g[p]["gain"] for p in ps]
        pick[d] = {"chosen": chosen[0], "chosen_gain": g[chosen]["gain"],
                   "random_gain": sum(gains_d) / len(gains_d), "best": max(ps, key=lambda p: g[p]["gain"])[0],
                   "best_gain": max(gains_d)}
    if per:
        res["within_mean_spearman"] = sum(v["spearman"] for v in per.values()) / len(per)
    res["per_downstream"] = per
    res["selection"] = pick
    if pick:
        res["selection_mean"] = {k: sum(v[k] for v in pick.values()) / len(pick)
                                 for k in ("chosen_gain", "random_gain", "best_gain")}
    return res


def reliability() -> dict[str, float]:
    r"""Split-half reliability of the fine-tuning gains: the correlation over pairs between
    the gains of seeds {0, 2, 4} and of seeds {1, 3} (how much of a gain is not seed noise)."""
    from scipy.stats import pearsonr, spearmanr

    a, b = [], []
    for d in DOWNSTREAM:
        base = _load(RES / "finetune" / d / "scratch.json")
        for c in CANDIDATES:
            r = _load(RES / "finetune" / d / f"{c}.json")
            if c == d or r is None or base is None:
                continue
            diff = [x - y for x, y in zip(r["metrics"]["test_acc"]["values"],
                                          base["metrics"]["test_acc"]["values"], strict=True)]
            if len(diff) >= 4:
                a.append(100 * sum(diff[0::2]) / len(diff[0::2]))
                b.append(100 * sum(diff[1::2]) / len(diff[1::2]))
    if len(a) < 3:
        return {}
    return {"pearson": float(pearsonr(a, b).statistic), "pearson_p": float(pearsonr(a, b).pvalue),
            "spearman": float(spearmanr(a, b).statistic), "pairs": len(a)}


def _summary(report: dict) -> list[str]:
    lines = ["| measure | pairs | Pearson r (p) | Spearman ρ (p) | mean within-D ρ | "
             "gain of its pick | random pick | best pick |", "|---" * 8 + "|"]
    for k, r in report.items():
        a, s = r["all"], r.get("selection_mean", {})
        lines.append(f"| {k} | {a['pairs']} | {a['pearson']:+.3f} ({a['pearson_p']:.3f}) | "
                     f"{a['spearman']:+.3f} ({a['spearman_p']:.3f}) | "
                     f"{r.get('within_mean_spearman', float('nan')):+.3f} | "
                     f"{s.get('chosen_gain', float('nan')):+.2f} | "
                     f"{s.get('random_gain', float('nan')):+.2f} | "
                     f"{s.get('best_gain', float('nan')):+.2f} |")
    return lines


def _gain_table(g: dict, base_name: str) -> list[str]:
    lines = [f"| downstream | {base_name} | " + " | ".join(CANDIDATES) + " |",
             "|---" * (len(CANDIDATES) + 2) + "|"]
    for d in DOWNSTREAM:
        row = [f"{g[(c, d)]['gain']:+.2f}" if (c, d) in g else "–" for c in CANDIDATES]
        base = next((v["scratch"] for (c, dd), v in g.items() if dd == d), float("nan"))
        lines.append(f"| {d} | {base:.2f} | " + " | ".join(row) + " |")
    return lines


def table(variants: list[str]) -> str:
    g, gp = gains(), probe_gains()
    measures = {v: {p: f["feasibility"] for p, f in feasibilities(v).items()} for v in variants}
    measures = {k: v for k, v in measures.items() if v}
    if "topo" in measures:
        measures["topo-uniform"] = {p: f["uniform"] for p, f in feasibilities("topo").items()}
    measures["statistics"] = statistics_similarity()
    report = {k: analyse(m, g) for k, m in measures.items()}
    report_probe = {k: analyse(m, gp) for k, m in measures.items()} if gp else {}
    rel = reliability()
    lines = ["**Ground truth 1: fine-tuning gain** (5 seeds; split-half reliability of the gains "
             f"r = {rel.get('pearson', float('nan')):+.3f}, ρ = "
             f"{rel.get('spearman', float('nan')):+.3f})", "", *_summary(report)]
    if report_probe:
        lines += ["", "**Ground truth 2: linear-probe gain** (frozen encoder, 10-fold CV)", "",
                  *_summary(report_probe)]
    lines += ["", "Fine-tuning gain (points) of each candidate (columns) on each downstream set:",
              "", *_gain_table(g, "scratch acc")]
    if gp:
        lines += ["", "Linear-probe gain (points) over random encoders:", "",
                  *_gain_table(gp, "random-encoder acc")]
    if "topo" in measures:
        lines += ["", "Feasibility (topo, defaults):", "",
                  "| downstream | " + " | ".join(CANDIDATES) + " |",
                  "|---" * (len(CANDIDATES) + 1) + "|"]
        for d in DOWNSTREAM:
            row = [f"{measures['topo'][(c, d)]:.3f}" if (c, d) in measures["topo"] else "–"
                   for c in CANDIDATES]
            lines.append(f"| {d} | " + " | ".join(row) + " |")
    secs = {v: sum(f["seconds"] for f in {p[1]: f for p, f in feasibilities(v).items()}.values())
            for v in measures if v in VARIANTS}
    lines += ["", "Wall time of the feasibility runs (6 downstream sets × 8 candidates): "
              + ", ".join(f"{v} {t:.0f} s" for v, t in secs.items())]
    out = {"gains": {f"{c}->{d}": v for (c, d), v in g.items()},
           "probe_gains": {f"{c}->{d}": v for (c, d), v in gp.items()},
           "measures": {k: {f"{c}->{d}": v for (c, d), v in m.items()}
                        for k, m in measures.items()},
           "analysis": report, "analysis_probe": report_probe, "reliability": rel,
           "feasibility_seconds": secs, "finetune": FINETUNE, "variants": VARIANTS}
    from graphcl.train.checkpoint import write_json_atomic

    write_json_atomic(ROOT / "results" / "w2pgnn.json", out)
    _plot(measures.get("topo", {}), g, gp)
    return "\n".join(lines)


def _plot(measure: dict, g: dict, gp: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)", file=sys.stderr)
        return
    panels = [(g, "fine-tuning gain over scratch (points)")]
    if gp:
        panels.append((gp, "linear-probe gain over random encoders (points)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.4), squeeze=False)
    for ax, (gain, label) in zip(axes[0], panels, strict=True):
        pairs = sorted(set(measure) & set(gain))
        for d in DOWNSTREAM:
            ps = [p for p in pairs if p[1] == d]
            ax.scatter([measure[p] for p in ps], [gain[p]["gain"] for p in ps], label=d, s=22)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel("W2PGNN feasibility (topo bases; higher = more feasible)")
        ax.set_ylabel(label)
    axes[0][0].legend(fontsize=8, title="downstream")
    fig.tight_layout()
    RES.mkdir(parents=True, exist_ok=True)
    fig.savefig(RES / "feasibility-gain.svg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", nargs="+", default=["pretrain", "finetune", "feasibility", "probe"],
                    choices=["pretrain", "finetune", "feasibility", "probe"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--table", action="store_true", help="only print the tables")
    args = ap.parse_args()
    if not args.table:
        run(args.steps, args.seeds, args.variants)
    print(table(args.variants))


if __name__ == "__main__":
    main()
