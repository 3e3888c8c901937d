r"""Static link-prediction training and evaluation for the NCN family (GAE / NCN / NCNC).

Follows the protocol of the NCN/NCNC code (Wang et al., ICLR 2024), see
``/work/shared/specs/ncnc.md`` §2.8 and §4:

* per epoch, one set of uniform training negatives on the train graph (1:1 with positives,
  indexed by the same permutation), mini-batches of a random permutation of the positive
  train pairs, **the last incomplete batch dropped**;
* target-link removal (``maskinput``): each batch's positive pairs are removed from the graph
  that the encoder and the decoder see for that step (a boolean mask on the sorted CSR, no
  re-sort);
* binary cross-entropy, Adam with two parameter groups (encoder ``gnnlr``, decoder ``prelr``);
* evaluation every epoch on valid and test with Hits@K (strict ``>``, all negatives), each key
  selected at its own best validation epoch.

Entry points: :func:`run_ncnc` (the method-runner contract) and :func:`train_link_model`
(returns timings and trained modules too).

Config keys keep the names of the authors' command-line flags (so ``models/ncnc.yaml`` can be
checked against their README): ``predictor`` (``gae``/``ncn``/``ncnc``/``ncnc2``/``gae_cn``/
``cn``/``aa``/``ra`` or the authors' keys ``cn0``/``cn1``/``incn1cn1``/``scn1``), ``model``
(conv), ``mplayers``, ``hiddim``, ``epochs``, ``batch_size``, ``testbs``, ``gnnlr``, ``prelr``,
``xdp``, ``tdp``, ``gnndp``, ``gnnedp``, ``predp``, ``preedp``, ``maskinput``, ``ln``, ``lnnn``,
``jk``, ``res``, ``use_xlin``, ``tailact``, ``twolayerlin``, ``beta``, ``probscale``,
``proboffset``, ``pt``, ``alpha``, ``depth``, ``trndeg``, ``tstdeg``, ``cndeg``, ``splitsize``,
``use_valedges_as_input``, ``metric`` (``hits@K`` used for reporting), ``hits_k`` (list of K),
``id_features`` (use node-id embeddings), ``init_from`` (train/load this predictor first with the
same config minus the ``variants`` overrides, then fine-tune from it with ``strict=False``), and
``variants: {predictor: {overrides}}`` applied when ``predictor`` matches,
``save_checkpoint`` (write ``<out_dir>/<predictor>_seed<k>.pt``, default off), ``resume``
(with an ``out_dir``, write ``<out_dir>/<predictor>_seed<k>.state.pt`` after every epoch and
continue from it when it exists: a killed run resumes with identical results; default on;
the file's config must match except for ``epochs``, so a finished run can be extended) and
``joint_pos_neg`` (score positives and negatives in one decoder call, sharing the predictor's
edge-dropout draw; faster, default off = the authors' two calls).

Registered with :mod:`graphcl.runners` as ``ncnc`` and the aliases ``ncn``, ``ncnc2``,
``gae_cn`` (the method name picks the decoder; config ``models/ncnc.yaml``).
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from graphcl.models.ncn import MPNN, HeuristicPredictor, build_predictor
from graphcl.nn.common_neighbors import Adjacency

__all__ = [
    "run_ncnc", "train_link_model", "resolve_config", "LinkRunResult", "prepare_link_data",
    "run_seeds",
]

_DEFAULTS: dict[str, Any] = {
    # parser defaults of the authors' NeighborOverlap.py (spec §3)
    "predictor": "ncnc", "model": "puregcn", "mplayers": 1, "hiddim": 32, "epochs": 40,
    "batch_size": 8192, "testbs": 8192, "gnnlr": 3e-4, "prelr": 3e-4, "xdp": 0.3, "tdp": 0.3,
    "gnndp": 0.3, "gnnedp": 0.3, "predp": 0.3, "preedp": 0.3, "maskinput": False, "ln": False,
    "lnnn": False, "jk": False, "res": False, "use_xlin": False, "tailact": False,
    "twolayerlin": False, "beta": 1.0, "probscale": 5.0, "proboffset": 3.0, "pt": 0.5,
    "alpha": 1.0, "depth": 1, "trndeg": -1, "tstdeg": -1, "cndeg": -1, "splitsize": -1,
    "use_valedges_as_input": False, "metric": "hits@100", "hits_k": [20, 50, 100],
    "id_features": False, "init_from": None, "sparse_features": "auto", "cn_method": "auto",
    "joint_pos_neg": False, "save_checkpoint": False, "resume": True,
}

# config keys that may change between a run and its resumption
_RESUMABLE_CHANGES = ("epochs", "save_checkpoint", "resume")


def resume_state_path(out_dir: str | Path, cfg: dict[str, Any], seed: int) -> Path:
    r"""``<out_dir>/<predictor>_seed<k>.state.pt``: the per-epoch resume state of one seed."""
    return Path(out_dir) / f"{cfg['predictor']}_seed{seed}.state.pt"


def _fingerprint(cfg: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k not in _RESUMABLE_CHANGES},
                      sort_keys=True, default=str)


def resolve_config(config: dict[str, Any], dataset_name: str | None = None, predictor: str | None = None) -> dict[str, Any]:
    r"""Flattens a ``models/ncnc.yaml``-style config for one dataset and predictor.

    Accepts either the whole file (``{"defaults": ..., "datasets": {...}}``) or an already
    merged flat dict. Precedence: parser defaults < ``defaults`` < ``datasets[name]`` <
    ``variants[predictor]``; ``predictor`` (argument) overrides the configured one.
    """
    from graphcl.config import select_sections

    # the authors' flags are per dataset: a whole file without the dataset's section is an error
    cfg = {**_DEFAULTS, **select_sections(config, dataset_name, require_section=True)}
    if predictor is not None:
        cfg["predictor"] = predictor
    variants = cfg.pop("variants", None) or {}
    base = dict(cfg)
    if cfg["predictor"] in variants:
        cfg.update(variants[cfg["predictor"]])
    if cfg.get("init_from"):
        # the config the initialising model is trained with
        cfg["_init_config"] = {**base, "predictor": cfg["init_from"], "init_from": None}
    return cfg


@dataclass
class LinkData:
    r"""Everything a run needs: features, the splits as ``[2, E]`` tensors, the graphs."""

    x: Tensor
    num_nodes: int
    split: Any  # graphcl.data.split.LinkSplit
    adj: Adjacency  # train graph (message passing and CN sets)
    test_adj: Adjacency  # graph for test scoring (train + valid edges with use_valedges_as_input)


@dataclass
class LinkRunResult:
    r"""Outcome of :func:`train_link_model`."""

    metrics: dict[str, float]
    train_time_per_epoch: list[float] = field(default_factory=list)
    eval_time_per_epoch: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    encoder: torch.nn.Module | None = None
    predictor: torch.nn.Module | None = None
    best_state: dict[str, Any] | None = None


def prepare_link_data(dataset_name: str, dataset: Any, seed: int, cfg: dict[str, Any]) -> LinkData:
    r"""Splits ``dataset`` (a graph: the authors' fresh 70/10/20 split for ``seed``; OGB: the
    official split, see :func:`graphcl.train.tasks.link_split_for`) and builds the graphs and
    input features."""
    from graphcl.data.split import LinkSplit
    from graphcl.train.tasks import link_split_for

    if isinstance(dataset, LinkSplit):
        raise TypeError("run_ncnc needs the dataset (features + graph), not only a LinkSplit")
    data, split = link_split_for(dataset, seed, {"protocol": "ncnc"})
    num_nodes = int(split.num_nodes)
    x = getattr(data, "x", None)
    if cfg.get("id_features") or x is None:
        x = torch.arange(num_nodes)
    else:
        x = x.float()
        sparse = cfg.get("sparse_features", "auto")
        if sparse is True or (sparse == "auto" and x.dim() == 2 and x.numel() > 0
                              and float((x != 0).float().mean()) < 0.1):
            with warnings.catch_warnings():  # torch flags sparse CSR as "beta"
                warnings.simplefilter("ignore", UserWarning)
                x = x.to_sparse_csr()  # bag-of-words: sparse-dense input Linear
    adj = Adjacency.from_edge_index(split.train_pos, num_nodes)
    test_adj = adj
    if cfg.get("use_valedges_as_input"):
        test_adj = Adjacency.from_edge_index(torch.cat([split.train_pos, split.valid_pos], 1), num_nodes)
    return LinkData(x, num_nodes, split, adj, test_adj)


def build_models(cfg: dict[str, Any], data: LinkData) -> tuple[torch.nn.Module | None, torch.nn.Module]:
    r"""The encoder (``None`` for heuristics) and the decoder of ``cfg``."""
    predictor = build_predictor(
        cfg["predictor"], cfg["hiddim"], dropout=cfg["predp"], edge_dropout=cfg["preedp"],
        ln=cfg["lnnn"], use_xlin=cfg["use_xlin"], tailact=cfg["tailact"],
        twolayerlin=cfg["twolayerlin"], beta=cfg["beta"], cn_sample_deg=cfg["cndeg"],
        depth=cfg["depth"], scale=cfg["probscale"], offset=cfg["proboffset"], pt=cfg["pt"],
        alpha=cfg["alpha"], train_sample_deg=cfg["trndeg"], test_sample_deg=cfg["tstdeg"],
        split_size=cfg["splitsize"], cn_method=cfg["cn_method"],
    )
    if isinstance(predictor, HeuristicPredictor):
        return None, predictor
    ids = data.x.dim() == 1
    encoder = MPNN(
        0 if ids else data.x.size(1), cfg["hiddim"], cfg["mplayers"], cfg["model"],
        dropout=cfg["gnndp"], xdropout=cfg["xdp"], taildropout=cfg["tdp"],
        edge_dropout=cfg["gnnedp"], ln=cfg["ln"], res=cfg["res"], jk=cfg["jk"],
        # the authors size the id table max_x + 1 with max_x = num_nodes
        num_embeddings=data.num_nodes + 1 if ids else None,
    )
    return encoder, predictor


@torch.no_grad()
def _score(predictor: torch.nn.Module, h: Tensor | None, adj: Adjacency, pairs: Tensor, bs: int) -> Tensor:
    if pairs.size(1) == 0:
        return torch.zeros(0)
    bs = bs if bs > 0 else pairs.size(1)
    return torch.cat([predictor(h, adj, pairs[:, s : s + bs]).float() for s in range(0, pairs.size(1), bs)])


def _score_one_vs_many(predictor: torch.nn.Module, h: Tensor | None, adj: Adjacency, pos: Tensor,
                       neg_dst: Tensor, bs: int) -> Tensor:
    r"""Scores ``[E, K]`` of each positive's source against its own ``K`` negative targets."""
    e, k = neg_dst.shape
    if pos.size(1) != e:
        raise ValueError(f"one-vs-many negatives: {e} rows for {pos.size(1)} positives")
    pairs = torch.stack([pos[0].repeat_interleave(k), neg_dst.reshape(-1)])
    return _score(predictor, h, adj, pairs, bs).view(e, k)


def metric_names(cfg: dict[str, Any], split: Any) -> list[str]:
    r"""The metrics a run reports: ``mrr`` and ``hits@1/3/10`` (OGB citation2 style) when the
    split has one-vs-many negatives, else ``hits@K`` for ``cfg["hits_k"]``."""
    if getattr(split, "valid_neg_dst", None) is not None:
        return ["mrr", "hits@1", "hits@3", "hits@10"]
    return [f"hits@{int(k)}" for k in cfg["hits_k"]]


@torch.no_grad()
def evaluate_link(
    encoder: torch.nn.Module | None, predictor: torch.nn.Module, data: LinkData, cfg: dict[str, Any]
) -> dict[str, float]:
    r"""Valid and test metrics, eval mode: Hits@K against the shared negatives (keys
    ``valid_hits@K``, ``test_hits@K``), or, with one-vs-many negatives (``ogbl-citation2``),
    the filtered MRR and Hits@1/3/10 of each positive against its own negatives (``valid_mrr``,
    ``test_mrr``, ...; a tie counts as half a rank, as OGB 1.3.6)."""
    from graphcl.evaluate import Evaluator

    if encoder is not None:
        encoder.eval()
    predictor.eval()
    split, bs = data.split, cfg["testbs"]
    one_vs_many = split.valid_neg_dst is not None
    if one_vs_many and split.test_neg_dst is None:
        raise ValueError("the split has one-vs-many validation negatives but none for test")
    h = encoder(data.x, data.adj) if encoder is not None else None
    out: dict[str, float] = {}
    for part in ("valid", "test"):
        if part == "test" and data.test_adj is not data.adj and encoder is not None:
            h = encoder(data.x, data.test_adj)
        adj = data.adj if part == "valid" else data.test_adj
        pos = getattr(split, f"{part}_pos")
        sp = _score(predictor, h, adj, pos, bs)
        if one_vs_many:
            sn = _score_one_vs_many(predictor, h, adj, pos, getattr(split, f"{part}_neg_dst"), bs)
            res = Evaluator.from_metric("mrr", ks=(1, 3, 10)).eval({"y_pred_pos": sp, "y_pred_neg": sn})
            for name in metric_names(cfg, split):
                out[f"{part}_{name}"] = float(res[name])
        else:
            sn = _score(predictor, h, adj, getattr(split, f"{part}_neg"), bs)
            for k in cfg["hits_k"]:
                ev = Evaluator.from_metric(f"hits@{int(k)}")  # OGB Hits@K: strict >, all negatives
                out[f"{part}_hits@{k}"] = float(ev.eval({"y_pred_pos": sp, "y_pred_neg": sn})[f"hits@{k}"])
    return out


def train_epoch(
    encoder: torch.nn.Module, predictor: torch.nn.Module, optimizer: torch.optim.Optimizer,
    data: LinkData, cfg: dict[str, Any], generator: torch.Generator | None = None,
) -> float:
    r"""One epoch of the authors' training loop; returns the mean loss."""
    from graphcl.data.split import sample_train_negatives

    encoder.train()
    predictor.train()
    pos_all = data.split.train_pos
    num = pos_all.size(1)
    neg_all = sample_train_negatives(data.split, num, generator=generator)
    perm = torch.randperm(num, generator=generator)
    bs = cfg["batch_size"]
    losses = []
    starts = tqdm(range(0, num - bs + 1, bs), desc="train batches", leave=False,
                  disable=None)  # shown on a terminal only
    for s in starts:  # last incomplete batch dropped (authors' PermIterator)
        idx = perm[s : s + bs]
        pos, neg = pos_all[:, idx], neg_all[:, idx]
        adj = data.adj.remove_pairs(pos) if cfg["maskinput"] else data.adj
        optimizer.zero_grad()
        h = encoder(data.x, adj)
        if cfg.get("joint_pos_neg", False):
            # one decoder call: a single predictor edge-dropout / XLin draw for both (faster)
            logits = predictor(h, adj, torch.cat([pos, neg], 1))
            pos_out, neg_out = logits[: pos.size(1)], logits[pos.size(1) :]
        else:  # the authors' two calls: independent edge-dropout draws for pos and neg
            pos_out, neg_out = predictor(h, adj, pos), predictor(h, adj, neg)
        loss = -F.logsigmoid(pos_out).mean() - F.logsigmoid(-neg_out).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    if not losses:
        raise ValueError(f"batch_size {bs} exceeds the {num} training pairs: no full batch to train on")
    return sum(losses) / len(losses)


def train_link_model(
    dataset_name: str,
    dataset: Any,
    cfg: dict[str, Any],
    seed: int,
    *,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    data: LinkData | None = None,
) -> LinkRunResult:
    r"""Trains and evaluates one run; see :func:`run_ncnc`. ``cfg`` must be flat
    (:func:`resolve_config`)."""
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    from graphcl.train.seed import get_rng_state, seed_everything, set_rng_state

    cfg = {**_DEFAULTS, **cfg}
    seed_everything(seed)
    if data is None:
        data = prepare_link_data(dataset_name, dataset, seed, cfg)
    encoder, predictor = build_models(cfg, data)
    if encoder is None:  # heuristics: nothing to train
        m = evaluate_link(None, predictor, data, cfg)
        return LinkRunResult(m, predictor=predictor)
    init_cfg = cfg.get("_init_config")
    if init_cfg:
        ckpt = Path(out_dir) / f"{init_cfg['predictor']}_seed{seed}.pt" if out_dir else None
        if ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, weights_only=False)
            if log:
                log(f"loaded {init_cfg['predictor']} init from {ckpt}")
        else:
            pre = train_link_model(dataset_name, dataset, init_cfg, seed, out_dir=out_dir, log=log, data=data)
            state = pre.best_state
        encoder.load_state_dict(state["encoder"], strict=False)
        predictor.load_state_dict(state["predictor"], strict=False)
        seed_everything(seed)
    groups = [{"params": list(predictor.parameters()), "lr": cfg["prelr"]}]
    if cfg["gnnlr"] > 0:
        groups.insert(0, {"params": list(encoder.parameters()), "lr": cfg["gnnlr"]})
    else:  # Adam with lr 0 (authors' frozen MPNN): skip the useless encoder gradients
        encoder.requires_grad_(False)
    optimizer = torch.optim.Adam(groups, fused=True)  # fused: one kernel for all tensors (CPU too)
    result = LinkRunResult({}, encoder=encoder, predictor=predictor)
    best: dict[str, tuple[float, float]] = {}  # metric name -> (valid, test) at its best epoch
    main_key = f"valid_{cfg['metric']}"
    best_main = -math.inf
    state_path = (resume_state_path(out_dir, cfg, seed)
                  if out_dir is not None and cfg.get("resume", True) else None)
    start = 1
    if state_path is not None and state_path.exists():
        st = load_checkpoint(state_path)
        if st.get("fingerprint") != _fingerprint(cfg):
            raise ValueError(f"{state_path} holds a run with a different config; delete it or "
                             "use another out_dir to start afresh")
        if st["epoch"] > cfg["epochs"]:
            raise ValueError(f"{state_path} holds a run already at epoch {st['epoch']}, beyond the "
                             f"{cfg['epochs']} epochs asked for; use another out_dir")
        encoder.load_state_dict(st["encoder"])
        predictor.load_state_dict(st["predictor"])
        optimizer.load_state_dict(st["optimizer"])
        set_rng_state(st["rng"])
        # state files of earlier versions keyed Hits@K by the integer K
        best = {(f"hits@{k}" if isinstance(k, int) else str(k)): tuple(v)
                for k, v in st["best"].items()}
        best_main, result.best_state = st["best_main"], st["best_state"]
        result.history = st["history"]
        result.train_time_per_epoch = st["train_time"]
        result.eval_time_per_epoch = st["eval_time"]
        start = st["epoch"] + 1
        if log:
            log(f"resumed {cfg['predictor']} seed {seed} after epoch {st['epoch']} from {state_path}")
    for epoch in range(start, cfg["epochs"] + 1):
        t0 = time.perf_counter()
        loss = train_epoch(encoder, predictor, optimizer, data, cfg)
        t1 = time.perf_counter()
        m = evaluate_link(encoder, predictor, data, cfg)
        t2 = time.perf_counter()
        result.train_time_per_epoch.append(t1 - t0)
        result.eval_time_per_epoch.append(t2 - t1)
        result.history.append({"epoch": epoch, "loss": loss, **m})
        for k in metric_names(cfg, data.split):
            v, t = m[f"valid_{k}"], m[f"test_{k}"]
            if k not in best or v > best[k][0]:  # strict: first best epoch wins, as the authors
                best[k] = (v, t)
        if m.get(main_key, -math.inf) > best_main:
            best_main = m[main_key]
            result.best_state = {
                "encoder": copy.deepcopy(encoder.state_dict()),
                "predictor": copy.deepcopy(predictor.state_dict()),
                "epoch": epoch,
            }
        if log:
            log(f"seed {seed} epoch {epoch:3d} loss {loss:.4f} train {t1 - t0:.2f}s eval {t2 - t1:.2f}s "
                + " ".join(f"{k} {v:.4f}" for k, v in m.items() if k.endswith(cfg["metric"])))
        if state_path is not None:
            save_checkpoint(state_path, {
                "fingerprint": _fingerprint(cfg), "epoch": epoch,
                "encoder": encoder.state_dict(), "predictor": predictor.state_dict(),
                "optimizer": optimizer.state_dict(), "rng": get_rng_state(),
                "best": best, "best_main": best_main, "best_state": result.best_state,
                "history": result.history, "train_time": result.train_time_per_epoch,
                "eval_time": result.eval_time_per_epoch})
    for k, (v, t) in best.items():
        result.metrics[f"valid_{k}"] = v
        result.metrics[f"test_{k}"] = t
    if out_dir is not None and result.best_state is not None and cfg.get("save_checkpoint", False):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        save_checkpoint(Path(out_dir) / f"{cfg['predictor']}_seed{seed}.pt", result.best_state)
    return result


def run_ncnc(
    dataset_name: str, dataset: Any, config: dict[str, Any], seed: int, out_dir: Path | None = None
) -> dict[str, float]:
    r"""Runs one seed of NCNC (or any decoder selected by ``config['predictor']``) with the
    authors' protocol and returns ``{"valid_hits@K": ..., "test_hits@K": ...}`` (fractions; each
    K selected at its own best validation epoch).

    Args:
        dataset_name (str): ``cora``/``citeseer``/``pubmed`` (fresh 70/10/20 split per seed) or
            an OGB name (official split).
        dataset: a Planetoid ``Data`` or an OGB ``(data, split_edge)`` named tuple.
        config (dict): the ``models/ncnc.yaml`` content or a flat config.
        seed (int): run index (seeds the split and the model).
        out_dir (Path, optional): where checkpoints (``<predictor>_seed<k>.pt``) go; an
            ``init_from`` checkpoint found there is reused. (default: ``None``)
    """
    cfg = _effective_config(dataset_name, config)
    return train_link_model(dataset_name, dataset, cfg, seed, out_dir=out_dir).metrics


def _effective_config(dataset_name: str, config: dict[str, Any]) -> dict[str, Any]:
    # `graphcl run ncn|ncnc2|gae_cn`: the method name selects the decoder
    method = config.get("method")
    predictor = method if isinstance(method, str) and method.lower() in _predictor_names() else None
    return resolve_config(config, dataset_name, predictor)


def _predictor_names() -> set[str]:
    from graphcl.models.ncn import PREDICTORS

    return set(PREDICTORS)


def _register() -> None:
    try:
        from graphcl.runners import register_method
    except ImportError:  # pragma: no cover - runners module not present
        return
    # `graphcl run ncn|ncnc2|gae_cn` use models/ncnc.yaml with that decoder (plain `gae` and the
    # heuristics belong to graphcl.train.baselines; here they are predictor values)
    run_ncnc.config_name = "ncnc"  # type: ignore[attr-defined]
    run_ncnc.effective_config = lambda name, cfg: {  # type: ignore[attr-defined]
        k: v for k, v in _effective_config(name, cfg).items() if not k.startswith("_")}
    run_ncnc.seed_recorded = _drop_resume_state  # type: ignore[attr-defined]
    register_method("ncnc", "ncn", "ncnc2", "gae_cn")(run_ncnc)


def _drop_resume_state(dataset_name: str, config: dict[str, Any], seed: int,
                       out_dir: Path | None) -> None:
    # called by graphcl.runners once the seed's metrics are in <out>.partial.json
    if out_dir is not None:
        resume_state_path(out_dir, _effective_config(dataset_name, config), seed).unlink(
            missing_ok=True)


_register()


def write_results(path: Path, method: str, dataset_name: str, runs: list[LinkRunResult],
                  seeds: list[int], cfg: dict[str, Any], wall: float, command: str) -> dict[str, Any]:
    r"""Writes the results JSON (project schema) and a markdown table next to it."""
    from graphcl.evaluate import aggregate
    from graphcl.runners import peak_rss_mb, versions
    from graphcl.train.checkpoint import write_json_atomic

    keys = sorted({k for r in runs for k in r.metrics})
    metrics = {k: aggregate([r.metrics[k] for r in runs], ddof=0) if len(runs) > 1
               else {"mean": runs[0].metrics[k], "std": 0.0, "values": [runs[0].metrics[k]]}
               for k in keys}
    trn = [t for r in runs for t in r.train_time_per_epoch[1:] or r.train_time_per_epoch]
    evl = [t for r in runs for t in r.eval_time_per_epoch[1:] or r.eval_time_per_epoch]
    out = {
        "method": method, "dataset": dataset_name, "metrics": metrics, "seeds": seeds,
        "config": {k: v for k, v in cfg.items() if not k.startswith("_")},
        "wall_time_s": wall, "peak_rss_mb": peak_rss_mb(), "command": command,
        "versions": versions(),
        "timing": {"train_s_per_epoch": sum(trn) / max(len(trn), 1),
                   "eval_s_per_epoch": sum(evl) / max(len(evl), 1),
                   "epochs_timed": len(trn)},
    }
    path = Path(path)
    write_json_atomic(path, out)
    main = cfg["metric"]
    lines = [
        f"# {method} on {dataset_name}", "",
        f"Command: `{command}`", "",
        f"Seeds run: {len(runs)} ({seeds}); each Hits@K selected at its own best validation epoch; "
        "std is the population std over seeds (numpy default, as the authors print).", "",
        "| metric | mean | std | values |", "|---|---|---|---|",
    ]
    for k in keys:
        m = metrics[k]
        vals = ", ".join(f"{100 * v:.2f}" for v in m["values"])
        bold = "**" if k == f"test_{main}" else ""
        lines.append(f"| {bold}{k}{bold} | {100 * m['mean']:.2f} | {100 * m['std']:.2f} | {vals} |")
    lines += ["", f"Train {out['timing']['train_s_per_epoch']:.3f} s/epoch, eval "
              f"{out['timing']['eval_s_per_epoch']:.3f} s/epoch (mean over epochs 2+), wall "
              f"{wall:.0f} s, peak RSS {out['peak_rss_mb']:.0f} MB. Versions: {out['versions']}.", ""]
    path.with_suffix(".md").write_text("\n".join(lines))
    write_summary(path.parent)
    return out


def write_summary(folder: Path) -> None:
    r"""(Re)writes ``folder/results.md``: one row per NCN-family results JSON in ``folder``."""
    import json

    from graphcl.models.ncn import PREDICTORS

    rows = []
    for f in sorted(Path(folder).glob("*.json")):
        try:
            r = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(r, dict) or r.get("method") not in PREDICTORS or "metrics" not in r:
            continue
        main = r.get("config", {}).get("metric", "hits@100")
        m = r["metrics"].get(f"test_{main}")
        v = r["metrics"].get(f"valid_{main}")
        if m is None:
            continue
        t = r.get("timing", {})
        label = r["method"] + (" (joint pos/neg call)" if r.get("config", {}).get("joint_pos_neg") else "")
        rows.append(
            f"| {label} | {100 * m['mean']:.2f} ± {100 * m['std']:.2f} | "
            f"{100 * v['mean']:.2f} ± {100 * v['std']:.2f} | {len(m['values'])} | "
            f"{r.get('config', {}).get('epochs', '?')} | {t.get('train_s_per_epoch', float('nan')):.2f} | "
            f"{t.get('eval_s_per_epoch', float('nan')):.2f} | `{r.get('command', '')}` |"
        )
    if not rows:
        return
    head = [
        f"# NCN family on {Path(folder).parent.name}", "",
        "Test metric at the best validation epoch (mean ± population std over seeds, in %). "
        "Timings are wall seconds on the shared 2-core CPU, one thread (OMP_NUM_THREADS=1), "
        "with other jobs running: see benchmarks/bench_ncnc.py for speed.", "",
        "| decoder | test | valid | seeds | epochs | train s/epoch | eval s/epoch | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    (Path(folder) / "results.md").write_text("\n".join(head + rows) + "\n")


def run_seeds(dataset_name: str, dataset: Any, config: dict[str, Any], seeds: list[int], *,
              method: str, results_path: Path, command: str, predictor: str | None = None,
              overrides: dict[str, Any] | None = None, init_overrides: dict[str, Any] | None = None,
              out_dir: Path | None = None,
              log: Callable[[str], None] | None = print) -> dict[str, Any]:
    r"""Runs :func:`train_link_model` for every seed, rewriting the results files after each
    seed (so a stopped run leaves the seeds it finished). ``overrides`` update the resolved
    config, ``init_overrides`` the config of its ``init_from`` model."""
    cfg = resolve_config(config, dataset_name, predictor)
    cfg.update(overrides or {})
    if init_overrides and cfg.get("_init_config"):
        cfg["_init_config"].update(init_overrides)
    runs: list[LinkRunResult] = []
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    for seed in seeds:
        r = train_link_model(dataset_name, dataset, cfg, seed, out_dir=out_dir, log=log)
        r.encoder = r.predictor = r.best_state = None
        runs.append(r)
        if log:
            log(f"seed {seed} done: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.metrics.items())))
        out = write_results(results_path, method, dataset_name, runs, seeds[: len(runs)], cfg,
                            time.perf_counter() - t0, command)
    return out
