r"""The temporal link-prediction protocol of TGN for memory models, and the ``tgn``/``pres``
method runners.

Protocol (``/work/shared/specs/tgn_protocol.md`` §2.2, §4.3):

* chronological 70/15/15 split with 10 % held-out ("new") nodes
  (:func:`graphcl.data.temporal.chronological_split`);
* every epoch starts from an empty memory; each training batch is scored from the memory with
  the messages *of earlier batches* applied, then its own messages are stored (a batch never
  sees its own events); the memory is detached after every step;
* validation continues from the end-of-training memory, the new-node validation restarts from
  a backup of it; the test continues from the end-of-validation memory (of the best epoch) and
  the new-node test restarts from a backup of that. Memory, pending messages, neighbour store and
  the training scheme's state (PRES) are all backed up and restored together;
* one random negative destination per event, drawn uniformly from the unique destinations of
  the training events (train), of all events (validation seed 0, test seed 2) or of the
  new-node test events (seed 3), the TGN ``RandEdgeSampler`` convention; samplers are reset
  before every evaluation. AP and ROC-AUC are per-batch averages
  (:func:`graphcl.evaluate.metrics.per_batch_ap_auc`); MRR is TGB-style one-vs-many against
  a fixed set of negative destinations per test event (:func:`graphcl.data.negative.
  fixed_eval_negatives`, ``"hist_rnd"``: half historical destinations of the source, half
  random, never the true destination), generated once from a fixed seed so every model and
  every run sees the same negatives;
* the evaluation batch is 200 whatever the training batch (PRES gotcha 5).
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from graphcl.data.negative import TemporalNegativeSampler, fixed_eval_negatives
from graphcl.data.temporal import TemporalSplit, chronological_split
from graphcl.evaluate.metrics import mrr as mrr_metric
from graphcl.evaluate.metrics import per_batch_ap_auc
from graphcl.models.tgn import TGN
from graphcl.runners import register_method
from graphcl.train.pres import PRES

DEFAULTS: dict[str, Any] = {
    "preset": "tgn",
    "memory_dim": 100,
    "time_dim": 100,
    "embedding_dim": 100,
    "num_neighbors": 10,
    "heads": 2,
    "dropout": 0.1,
    "message": "identity",
    "time_init": "tgat",
    "lr": 1e-4,
    "batch_size": 200,
    "eval_batch_size": 200,
    "epochs": 50,
    "patience": 5,
    "mrr_num_neg": 100,
    "mrr_strategy": "hist_rnd",
    "mrr_seed": 7,
    "val_ratio": 0.15,
    "test_ratio": 0.15,
    "new_node_ratio": 0.1,
    "split_seed": 2020,
    "pres": None,
    "verbose": False,
}
METADATA_KEYS = ("method", "source", "dataset", "description", "notes")
MODEL_KEYS = ("memory_dim", "time_dim", "embedding_dim", "num_neighbors", "heads", "dropout",
              "message", "time_init", "embedding", "aggregator", "updater", "query_time",
              "neighbor_grad", "batch_neighbors")


# Keys that do not change the training trajectory: a resume state written with other values
# of these can be continued (e.g. raising the epoch cap of a finished run).
RESUMABLE_CHANGES = ("epochs", "patience", "verbose")


def config_fingerprint(cfg: dict[str, Any], seed: int) -> str:
    r"""What a resume state must match: the seed and the merged config less
    :data:`RESUMABLE_CHANGES` (a canonical JSON string)."""
    return json.dumps({"seed": int(seed), **{k: v for k, v in cfg.items()
                                             if k not in RESUMABLE_CHANGES}},
                      sort_keys=True, default=str)


def _early_stop(curve: list[float], patience: int) -> tuple[int, int | None]:
    r"""Replays early stopping on a validation curve: the non-improving epochs at its end and
    the epoch at which ``patience`` of them stopped the run (``None``: not stopped)."""
    best, bad = -float("inf"), 0
    for epoch, v in enumerate(curve, 1):
        if v > best:
            best, bad = v, 0
        else:
            bad += 1
            if bad >= patience:
                return bad, epoch
    return bad, None


def resolve_config(config: dict | None, dataset_name: str | None = None) -> dict[str, Any]:
    r"""Merges :data:`DEFAULTS`, a YAML's ``defaults`` and its ``datasets[dataset_name]``
    (a flat dict is taken as already merged)."""
    from graphcl.config import select_sections

    out = {**DEFAULTS, **select_sections(dict(config or {}), dataset_name)}
    for key in METADATA_KEYS:  # descriptive keys a registry may add
        out.pop(key, None)
    unknown = set(out) - set(DEFAULTS) - set(MODEL_KEYS) - {"time_scale", "max_train_events"}
    if unknown:
        raise ValueError(f"temporal config: unknown keys {sorted(unknown)}")
    return out


def inter_event_time_scale(src: Tensor, dst: Tensor, t: Tensor) -> float:
    r"""Standard deviation of the time between consecutive events of the same node (the
    normaliser of JODIE's projection in the TGN code); 1.0 when undefined."""
    nodes = torch.cat([src, dst])
    times = torch.cat([t, t]).to(torch.float64)
    key = torch.argsort(times, stable=True)
    key = key[torch.argsort(nodes[key], stable=True)]
    n, tt = nodes[key], times[key]
    same = n[1:] == n[:-1]
    dt = (tt[1:] - tt[:-1])[same]
    if dt.numel() < 2 or float(dt.std()) <= 0:
        return 1.0
    return float(dt.std())


def destination_sampler(events: Any, seed: int) -> TemporalNegativeSampler:
    r"""TGN's ``RandEdgeSampler``: uniform draws from the destinations of ``events`` with a
    fixed-seed generator, restarted before each evaluation (``reset``)."""
    return TemporalNegativeSampler(events, strategy="random", dst_pool="unique_dst", seed=seed)


def phase_negatives(data: Any, train: EventStream, ind_test: EventStream,
                    seed: int) -> dict[str, TemporalNegativeSampler]:
    r"""TGN's four samplers: training (seeded by the run), validation (also for new-node
    validation), test and new-node test (fixed seeds 0, 2, 3)."""
    return {"train": destination_sampler(train, int(seed) + 10_000),
            "valid": destination_sampler(data, 0),
            "test": destination_sampler(data, 2),
            "ind_test": destination_sampler(ind_test if ind_test.num_events else data, 3)}


class EventStream:
    r"""The events of one phase (train/val/test...) as contiguous tensors."""

    def __init__(self, data: Any, mask: Tensor) -> None:
        idx = mask.nonzero().view(-1)
        self.e_id = idx
        self.src, self.dst, self.t = data.src[idx].long(), data.dst[idx].long(), data.t[idx]
        self.msg = data.msg[idx].float()
        self.num_events = idx.numel()

    def batches(self, batch_size: int):
        for i in range(0, self.num_events, batch_size):
            sl = slice(i, i + batch_size)
            yield sl, self.src[sl], self.dst[sl], self.t[sl], self.msg[sl], self.e_id[sl]


def _backup(model: TGN, scheme: PRES | None) -> dict:
    return {"model": model.state_backup(), "scheme": scheme.state_backup() if scheme else None}


def _restore(model: TGN, scheme: PRES | None, backup: dict) -> None:
    model.state_restore(backup["model"])
    if scheme is not None:
        scheme.state_restore(backup["scheme"])


def train_epoch(model: TGN, stream: EventStream, optimizer: torch.optim.Optimizer,
                negatives: TemporalNegativeSampler, batch_size: int,
                scheme: PRES | None = None) -> dict[str, float]:
    r"""One training epoch from an empty memory (the TGN "update at start" loop)."""
    model.train()
    if scheme is not None:
        scheme.train()
        scheme.reset_state()
    model.reset_state()
    total, n = 0.0, 0
    start = time.perf_counter()
    batches = tqdm(stream.batches(batch_size), desc="train batches", leave=False,
                   total=-(-stream.num_events // batch_size), disable=None)  # None: TTY only
    for _, src, dst, t, msg, e_id in batches:
        optimizer.zero_grad()
        neg = negatives.sample(src, dst, t)
        pos_out, neg_out, ctx = model(src, dst, t, neg, msg=msg, memory_hook=scheme)
        loss = (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        if scheme is not None and scheme.loss() is not None:
            loss = loss + scheme.loss()
        loss.backward()
        optimizer.step()
        model.update_state(src, dst, t, msg, ctx=ctx, e_id=e_id)
        model.detach()
        total += float(loss.detach()) * src.numel()
        n += src.numel()
    seconds = time.perf_counter() - start
    return {"loss": total / max(n, 1), "seconds": seconds, "events_per_s": n / max(seconds, 1e-9)}


@torch.no_grad()
def evaluate(model: TGN, stream: EventStream, negatives: TemporalNegativeSampler, batch_size: int,
             scheme: PRES | None = None, mrr_negatives: Tensor | None = None,
             ) -> dict[str, float]:
    r"""Scores a phase's events in chronological batches, absorbing them into the memory
    afterwards (streaming evaluation, TGN issue #15). Returns per-batch averaged ``ap``/``auc``
    and, with ``mrr_negatives`` ``[E, Q]``, the one-vs-many ``mrr``."""
    model.eval()
    if scheme is not None:
        scheme.eval()
    negatives.reset()
    if stream.num_events == 0:
        return {"ap": float("nan"), "auc": float("nan")}
    neg_all = negatives.sample(stream.src, stream.dst, stream.t)
    pos_scores, neg_scores, mrr_pos, mrr_neg = [], [], [], []
    for sl, src, dst, t, msg, e_id in stream.batches(batch_size):
        neg = neg_all[sl]
        if mrr_negatives is not None:
            cand = torch.cat([neg.unsqueeze(1), mrr_negatives[sl]], 1)
            pos_out, neg_out, ctx = model(src, dst, t, cand, msg=msg, memory_hook=scheme)
            mrr_pos.append(pos_out)
            mrr_neg.append(neg_out[:, 1:])
            neg_out = neg_out[:, 0]
        else:
            pos_out, neg_out, ctx = model(src, dst, t, neg, msg=msg, memory_hook=scheme)
        pos_scores.append(pos_out.sigmoid())
        neg_scores.append(neg_out.sigmoid())
        model.update_state(src, dst, t, msg, ctx=ctx, e_id=e_id)
    out = per_batch_ap_auc(torch.cat(pos_scores), torch.cat(neg_scores), batch_size)
    if mrr_negatives is not None:
        out["mrr"] = mrr_metric(torch.cat(mrr_pos), torch.cat(mrr_neg))
    return out


def build_model(cfg: dict[str, Any], num_nodes: int, edge_dim: int, time_scale: float) -> TGN:
    r"""The family member named by ``cfg["preset"]`` with ``cfg``'s overrides."""
    kwargs = {k: cfg[k] for k in MODEL_KEYS if k in cfg}
    return TGN.from_preset(cfg["preset"], num_nodes, edge_dim,
                           time_scale=cfg.get("time_scale") or time_scale, **kwargs)


def build_scheme(cfg: dict[str, Any], num_nodes: int, memory_dim: int) -> PRES | None:
    r"""A :class:`~graphcl.train.pres.PRES` from ``cfg["pres"]`` (``None``/``False``: none)."""
    p = cfg.get("pres")
    if not p:
        return None
    p = {} if p is True else dict(p)
    if p.get("scope") == "intra" and cfg.get("query_time", "first") != "event":
        raise ValueError("pres.scope='intra' needs query_time='event': with 'first' each node "
                         "is queried once, before all its batch events, so none is pending")
    return PRES(num_nodes, memory_dim, **p)


def run_temporal_link(data: Any, config: dict[str, Any], seed: int,
                      split: TemporalSplit | None = None,
                      state_path: str | Path | None = None) -> dict[str, float]:
    r"""Trains and evaluates one memory model (optionally with PRES) under the TGN protocol.

    Args:
        data (TemporalData): ``src``, ``dst``, ``t`` (sorted), ``msg`` ``[E, F]``, ``num_nodes``.
        config (dict): A merged config (see :func:`resolve_config`).
        seed (int): Seed of initialisation, training negatives and dropout.
        split (TemporalSplit, optional): Precomputed split. (default: :obj:`None`)
        state_path (str or Path, optional): Resume state, written atomically after every
            epoch (weights, optimiser, memory, PRES parameters, RNG and sampler states, the
            best epoch so far with its PRES statistics); if the file exists the run continues from it and ends with the
            metrics an uninterrupted run gives. A state written with a different config or
            seed is an error; ``epochs`` and ``patience`` may differ (raising them continues
            a finished run) unless the new ``patience`` would have stopped the run before the
            state's epoch. (default: :obj:`None`)

    Returns:
        dict: ``valid_ap``, ``valid_auc``, ``ind_valid_ap``, ``ind_valid_auc`` (best epoch),
        ``test_ap``, ``test_auc``, ``test_mrr``, ``ind_test_ap``, ``ind_test_auc``,
        ``ind_test_mrr``, plus ``train_epoch_seconds``, ``train_events_per_second``,
        ``best_epoch`` and ``epochs_run``; ``pres_gamma`` when PRES learns its fusion weight;
        ``val_ap_curve``, the validation AP after every epoch run (a list).
    """
    cfg = resolve_config(config)
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    from graphcl.train.seed import get_rng_state, seed_everything, set_rng_state

    seed_everything(int(seed))
    if getattr(data, "msg", None) is None or data.msg.dim() != 2:
        data.msg = torch.zeros(data.src.numel(), 0)
    num_nodes = int(data.num_nodes)
    if split is None:
        split = chronological_split(data, cfg["val_ratio"], cfg["test_ratio"],
                                    new_node_ratio=cfg["new_node_ratio"], seed=cfg["split_seed"])
    train = EventStream(data, split.train_mask)
    if cfg.get("max_train_events"):
        keep = torch.zeros_like(split.train_mask)
        keep[train.e_id[: int(cfg["max_train_events"])]] = True
        train = EventStream(data, keep)
    val = EventStream(data, split.val_mask)
    ind_val = EventStream(data, split.new_node_val_mask)
    test = EventStream(data, split.test_mask)
    ind_test = EventStream(data, split.new_node_test_mask)

    model = build_model(cfg, num_nodes, data.msg.size(1),
                        inter_event_time_scale(train.src, train.dst, train.t))
    scheme = build_scheme(cfg, num_nodes, model.memory.memory_dim)
    params = list(model.parameters()) + (list(scheme.parameters()) if scheme else [])
    optimizer = torch.optim.Adam([p for p in params if p.requires_grad], lr=cfg["lr"], fused=True)

    negs = phase_negatives(data, train, ind_test, seed)
    train_neg, val_neg, test_neg, ind_test_neg = (negs[k] for k in ("train", "valid", "test",
                                                                    "ind_test"))

    best = {"ap": -1.0}
    bad, epoch_times, rates, epochs_run, curve = 0, [], [], 0, []
    stopped = False
    fingerprint = config_fingerprint(cfg, seed)
    if state_path is not None and Path(state_path).exists():
        st = load_checkpoint(state_path)
        if st.get("fingerprint") != fingerprint:
            raise ValueError(f"{state_path} holds a run with a different config or seed; delete "
                             "it to start afresh")
        curve = list(st["curve"])
        bad, stop_epoch = _early_stop(curve, int(cfg["patience"]))
        if stop_epoch is not None and stop_epoch < len(curve):
            raise ValueError(f"{state_path} holds {len(curve)} epochs, but patience "
                             f"{cfg['patience']} stops this run at epoch {stop_epoch}; delete it "
                             "to start afresh")
        if len(curve) > int(cfg["epochs"]):
            raise ValueError(f"{state_path} holds {len(curve)} epochs, more than the "
                             f"{cfg['epochs']} asked for; delete it to start afresh")
        model.load_state_dict(st["model"])
        if scheme is not None:
            scheme.load_state_dict({**scheme.state_dict(), **st["scheme"]})
        optimizer.load_state_dict(st["optimizer"])
        train_neg.load_state_dict(st["train_neg"])
        set_rng_state(st["rng"])
        best, epoch_times, rates = st["best"], list(st["epoch_times"]), list(st["rates"])
        epochs_run, stopped = len(curve), stop_epoch is not None
        if cfg["verbose"]:
            print(f"resumed seed {seed} after epoch {epochs_run} from {state_path}",
                  file=sys.stderr, flush=True)
    for epoch in range(epochs_run + 1, int(cfg["epochs"]) + 1):
        if stopped:
            break
        stats = train_epoch(model, train, optimizer, train_neg, int(cfg["batch_size"]), scheme)
        epoch_times.append(stats["seconds"])
        rates.append(stats["events_per_s"])
        epochs_run = epoch
        after_train = _backup(model, scheme)
        v = evaluate(model, val, val_neg, int(cfg["eval_batch_size"]), scheme)
        after_val = _backup(model, scheme)
        _restore(model, scheme, after_train)
        iv = evaluate(model, ind_val, val_neg, int(cfg["eval_batch_size"]), scheme)
        _restore(model, scheme, after_val)
        curve.append(float(v["ap"]))
        if cfg["verbose"]:
            print(f"epoch {epoch:3d} loss {stats['loss']:.4f} train {stats['seconds']:.1f}s "
                  f"({stats['events_per_s']:.0f} ev/s) val ap {v['ap']:.4f} auc {v['auc']:.4f} "
                  f"ind val ap {iv['ap']:.4f}", file=sys.stderr, flush=True)
        if v["ap"] > best["ap"]:
            best = {"ap": v["ap"], "auc": v["auc"], "ind_ap": iv["ap"], "ind_auc": iv["auc"],
                    "epoch": epoch, "model": copy.deepcopy(model.state_dict()),
                    "scheme": copy.deepcopy(scheme.state_dict()) if scheme else None}
            bad = 0
        else:
            bad += 1
            stopped = bad >= int(cfg["patience"])
        if state_path is not None:
            scheme_params = dict(scheme.named_parameters()) if scheme is not None else {}
            save_checkpoint(state_path, {
                "fingerprint": fingerprint, "curve": curve, "best": best,
                "model": model.state_dict(),
                # the scheme's statistics restart with every epoch (train_epoch): only its
                # parameters go on (the best epoch's statistics are in `best`)
                "scheme": (None if scheme is None else
                           {k: v for k, v in scheme.state_dict().items() if k in scheme_params}),
                "optimizer": optimizer.state_dict(), "train_neg": train_neg.state_dict(),
                "rng": get_rng_state(), "epoch_times": epoch_times, "rates": rates})

    # Test from the end-of-validation state of the best epoch (weights, memory, messages).
    model.load_state_dict(best["model"])
    if scheme is not None:
        scheme.load_state_dict(best["scheme"])
    q = int(cfg["mrr_num_neg"])
    test_mrr_neg = ind_mrr_neg = None
    if q > 0:
        test_mrr_neg = fixed_eval_negatives(data, split.test_mask, q, cfg["mrr_strategy"],
                                            seed=int(cfg["mrr_seed"]))
        ind_mrr_neg = fixed_eval_negatives(data, split.new_node_test_mask, q,
                                           cfg["mrr_strategy"], seed=int(cfg["mrr_seed"]) + 1)
    after_val = _backup(model, scheme)
    te = evaluate(model, test, test_neg, int(cfg["eval_batch_size"]), scheme, test_mrr_neg)
    _restore(model, scheme, after_val)
    ite = evaluate(model, ind_test, ind_test_neg, int(cfg["eval_batch_size"]), scheme,
                   ind_mrr_neg)
    out = {
        "valid_ap": best["ap"], "valid_auc": best["auc"],
        "ind_valid_ap": best["ind_ap"], "ind_valid_auc": best["ind_auc"],
        "test_ap": te["ap"], "test_auc": te["auc"],
        "ind_test_ap": ite["ap"], "ind_test_auc": ite["auc"],
        "train_epoch_seconds": float(np.mean(epoch_times)),
        "train_events_per_second": float(np.mean(rates)),
        "best_epoch": float(best["epoch"]), "epochs_run": float(epochs_run),
        "val_ap_curve": curve,
    }
    if q > 0:
        out["test_mrr"] = te["mrr"]
        out["ind_test_mrr"] = ite["mrr"]
    if scheme is not None and scheme.learnable_gamma:
        out["pres_gamma"] = float(scheme.gamma.detach())  # learnt weight, best epoch
    return out


def resume_state_path(out_dir: str | Path, method: str, dataset_name: str, seed: int) -> Path:
    r"""``<out_dir>/<method>_<dataset>_seed<k>.state.pt``: the per-epoch resume state of one
    seed (characters other than letters, digits, ``_.-`` in the dataset name become ``_``)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", str(dataset_name))
    return Path(out_dir) / f"{method}_{tag}_seed{seed}.state.pt"


def _run(dataset_name: str, dataset: Any, config: dict, seed: int, force_pres: bool | None,
         method: str, out_dir: Path | None) -> dict[str, float]:
    cfg = resolve_config(config, dataset_name)
    if force_pres is True and not cfg.get("pres"):
        cfg["pres"] = True
    if force_pres is False:
        cfg["pres"] = None
    state = (resume_state_path(out_dir, method, dataset_name, seed) if out_dir is not None
             else None)
    metrics = run_temporal_link(dataset, cfg, seed, state_path=state)
    metrics.pop("val_ap_curve")  # per-epoch list; the runners' results hold scalars
    # Run statistics (seconds, events/s, epochs) are not fractions: prefixed "stat_" so that
    # reports do not print them as percentages.
    return {(k if k.startswith(("valid_", "test_", "ind_")) else f"stat_{k}"): v
            for k, v in metrics.items()}


@register_method("tgn")
def run_tgn(dataset_name: str, dataset: Any, config: dict, seed: int,
            out_dir: Path | None = None) -> dict[str, float]:
    r"""Method runner ``tgn`` (any preset of the family; PRES if the config enables it). With
    an ``out_dir`` a killed run resumes from :func:`resume_state_path`."""
    return _run(dataset_name, dataset, config, seed, None, "tgn", out_dir)


@register_method("pres")
def run_pres(dataset_name: str, dataset: Any, config: dict, seed: int,
             out_dir: Path | None = None) -> dict[str, float]:
    r"""Method runner ``pres``: the config's memory model trained with PRES. With an
    ``out_dir`` a killed run resumes from :func:`resume_state_path`."""
    return _run(dataset_name, dataset, config, seed, True, "pres", out_dir)


def _drop_state(method: str):
    def seed_recorded(dataset_name: str, config: dict, seed: int, out_dir: Path | None) -> None:
        # called by graphcl.runners once the seed's metrics are in <out>.partial.json
        if out_dir is not None:
            resume_state_path(out_dir, method, dataset_name, seed).unlink(missing_ok=True)
    return seed_recorded


run_tgn.seed_recorded = _drop_state("tgn")  # type: ignore[attr-defined]
run_pres.seed_recorded = _drop_state("pres")  # type: ignore[attr-defined]


class TemporalLinkTask:
    r"""The TGN protocol as a :class:`~graphcl.train.engine.Task` of the training engine.

    The engine's model is a :class:`torch.nn.ModuleDict` ``{"tgn": TGN, "pres": PRES}`` (the
    ``"pres"`` entry is optional), so that the memory, its pending messages, the neighbour
    store and the PRES statistics are part of ``strategy.model.state_dict()``: the engine's
    best-epoch snapshot and its checkpoints hold them. Every epoch starts from an empty memory
    (:meth:`on_epoch_start`); a batch is scored from the memory with earlier batches' messages
    applied and its own events are written into the memory after the optimiser step
    (:meth:`after_update`). ``evaluate("valid")`` continues from the training memory and leaves
    the end-of-validation memory in place (the new-node validation runs from a backup);
    ``evaluate("test")`` continues from there and restores it afterwards — use the engine with
    ``eval_splits=("valid",)``, ``final_splits=("test",)`` for the TGN protocol.

    Args:
        data (TemporalData): events sorted by time with ``msg`` ``[E, F]``.
        split (TemporalSplit): chronological split with new-node masks.
        batch_size (int, optional): training temporal batch. (default: ``200``)
        eval_batch_size (int, optional): evaluation batch. (default: ``200``)
        seed (int, optional): seed of the training negatives. (default: ``0``)
    """

    def __init__(self, data: Any, split: TemporalSplit, *, batch_size: int = 200,
                 eval_batch_size: int = 200, seed: int = 0) -> None:
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_size}, {eval_batch_size}")
        self.streams = {
            "train": EventStream(data, split.train_mask),
            "valid": EventStream(data, split.val_mask),
            "ind_valid": EventStream(data, split.new_node_val_mask),
            "test": EventStream(data, split.test_mask),
            "ind_test": EventStream(data, split.new_node_test_mask),
        }
        ind_test = self.streams["ind_test"]
        negs = phase_negatives(data, self.streams["train"], ind_test, seed)
        self.train_neg, self.val_neg = negs["train"], negs["valid"]
        self.test_neg, self.ind_test_neg = negs["test"], negs["ind_test"]
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self._ctx: Any = None

    @staticmethod
    def _parts(strategy: Any) -> tuple[TGN, PRES | None]:
        model = strategy.model
        return model["tgn"], model["pres"] if "pres" in model else None

    def on_epoch_start(self, strategy: Any) -> None:
        tgn, scheme = self._parts(strategy)
        tgn.reset_state()
        if scheme is not None:
            scheme.reset_state()

    def train_batches(self, strategy: Any):
        for _, src, dst, t, msg, e_id in self.streams["train"].batches(self.batch_size):
            yield src, dst, t, msg, e_id, self.train_neg.sample(src, dst, t)

    def training_loss(self, strategy: Any, batch: tuple) -> Tensor:
        tgn, scheme = self._parts(strategy)
        src, dst, t, msg, _, neg = batch
        pos_out, neg_out, self._ctx = tgn(src, dst, t, neg, msg=msg, memory_hook=scheme)
        loss = (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        if scheme is not None and scheme.loss() is not None:
            loss = loss + scheme.loss()
        return loss

    def after_update(self, strategy: Any, batch: tuple) -> None:
        tgn, _ = self._parts(strategy)
        src, dst, t, msg, e_id, _ = batch
        tgn.update_state(src, dst, t, msg, ctx=self._ctx, e_id=e_id)
        tgn.detach()
        self._ctx = None

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        tgn, scheme = self._parts(strategy)
        if split == "valid":
            main, ind, neg, ind_neg = "valid", "ind_valid", self.val_neg, self.val_neg
        elif split == "test":
            main, ind, neg, ind_neg = "test", "ind_test", self.test_neg, self.ind_test_neg
        else:
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        start = _backup(tgn, scheme)
        out = evaluate(tgn, self.streams[main], neg, self.eval_batch_size, scheme)
        end = _backup(tgn, scheme)
        # New-node evaluation: validation restarts from the training memory, test from the
        # end-of-validation memory (TGN's backups); the main split's end state is kept.
        _restore(tgn, scheme, start)
        ind_out = evaluate(tgn, self.streams[ind], ind_neg, self.eval_batch_size, scheme)
        _restore(tgn, scheme, end if split == "valid" else start)
        return {"ap": out["ap"], "auc": out["auc"], "ind_ap": ind_out["ap"],
                "ind_auc": ind_out["auc"]}

    def state_dict(self) -> dict[str, Any]:
        return {"train_neg": self.train_neg.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_neg.load_state_dict(state["train_neg"])
