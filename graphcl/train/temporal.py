r"""The temporal link-prediction protocol of TGN for memory models, as an engine task.

Protocol (Rossi et al., 2020, as in twitter-research/tgn ``train_self_supervised.py``):

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

:class:`TemporalLinkTask` is the task (used with ``eval_splits=("valid",)``,
``final_splits=("test",)``); the ``tgn``/``pres`` methods are :mod:`graphcl.methods.tgn`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.data.negative import TemporalNegativeSampler, fixed_eval_negatives
from graphcl.data.temporal import TemporalSplit, chronological_split
from graphcl.evaluate.metrics import mrr as mrr_metric
from graphcl.evaluate.metrics import per_batch_ap_auc
from graphcl.models.tgn import TGN
from graphcl.train.pres import PRES

__all__ = ["TemporalLinkTask", "EventStream", "inter_event_time_scale", "destination_sampler",
           "phase_negatives", "evaluate_stream", "memory_backup", "memory_restore",
           "absorb_stream", "link_protocol"]

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

    def __init__(self, data: Any, mask: Tensor, limit: int | None = None) -> None:
        idx = mask.nonzero().view(-1)
        if limit is not None:
            idx = idx[: int(limit)]
        self.e_id = idx
        self.src, self.dst, self.t = data.src[idx].long(), data.dst[idx].long(), data.t[idx]
        self.msg = data.msg[idx].float()
        self.num_events = idx.numel()

    def batches(self, batch_size: int):
        for i in range(0, self.num_events, batch_size):
            sl = slice(i, i + batch_size)
            yield sl, self.src[sl], self.dst[sl], self.t[sl], self.msg[sl], self.e_id[sl]


def memory_backup(model: TGN, scheme: PRES | None) -> dict:
    r"""The memory model's mutable state (memory, pending messages, neighbour store) and the
    training scheme's (PRES), for :func:`memory_restore`."""
    return {"model": model.state_backup(), "scheme": scheme.state_backup() if scheme else None}


def memory_restore(model: TGN, scheme: PRES | None, backup: dict) -> None:
    model.state_restore(backup["model"])
    if scheme is not None:
        scheme.state_restore(backup["scheme"])


@torch.no_grad()
def evaluate_stream(model: TGN, stream: EventStream, negatives: TemporalNegativeSampler, batch_size: int,
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


@torch.no_grad()
def absorb_stream(model: Any, stream: EventStream, batch_size: int) -> None:
    r"""Writes a phase's events into a memory model's state, in chronological batches,
    without scoring them."""
    for _, src, dst, t, msg, e_id in stream.batches(batch_size):
        model.update_state(src, dst, t, msg, e_id=e_id)


def link_protocol(data: Any, cfg: dict[str, Any], seed: int,
                  **task_kwargs: Any) -> tuple[TemporalLinkTask, float, dict[str, Any]]:
    r"""TGN's protocol for a memory model, from a temporal method's config (keys
    ``val_ratio``, ``test_ratio``, ``new_node_ratio``, ``split_seed``, ``batch_size``,
    ``eval_batch_size``, ``max_train_events``, ``mrr_num_neg``, ``mrr_strategy``, ``mrr_seed``,
    ``time_scale``, ``epochs``, ``patience``): the task on the chronological split, the time
    scale (``time_scale``, else :func:`inter_event_time_scale` of its training events) and the
    engine's settings (early stopping on validation AP, test at the end). ``data`` without a
    2-D ``msg`` gets zero-width edge features. ``task_kwargs`` go to the task."""
    if getattr(data, "msg", None) is None or data.msg.dim() != 2:
        data.msg = torch.zeros(data.src.numel(), 0)
    split = chronological_split(data, cfg["val_ratio"], cfg["test_ratio"],
                                new_node_ratio=cfg["new_node_ratio"], seed=cfg["split_seed"])
    task = TemporalLinkTask(data, split, batch_size=int(cfg["batch_size"]),
                            eval_batch_size=int(cfg["eval_batch_size"]), seed=seed,
                            max_train_events=cfg["max_train_events"],
                            mrr_num_neg=int(cfg["mrr_num_neg"]),
                            mrr_strategy=cfg["mrr_strategy"], mrr_seed=int(cfg["mrr_seed"]),
                            **task_kwargs)
    train = task.streams["train"]
    scale = cfg["time_scale"] or inter_event_time_scale(train.src, train.dst, train.t)
    engine = {"max_epochs": int(cfg["epochs"]), "patience": int(cfg["patience"]),
              "monitor": "valid_ap", "eval_splits": ("valid",), "final_splits": ("test",)}
    return task, scale, engine


def _max_negatives(data: Any) -> int:
    r"""The most distinct negatives every event can have: the destinations less the positives
    that share an event's (source, time)."""
    src, dst, t = data.src.long(), data.dst.long(), data.t
    _, t_rank = torch.unique(t, return_inverse=True)
    _, group = torch.unique(src * (int(t_rank.max()) + 1) + t_rank, return_inverse=True)
    largest = int(torch.bincount(group).max()) if group.numel() else 0
    return max(int(torch.unique(dst).numel()) - largest, 0)


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
    ``eval_splits=("valid",)``, ``final_splits=("test",)`` for the TGN protocol. Metrics:
    ``ap``, ``auc``, ``ind_ap``, ``ind_auc`` (new-node events) and, on test with
    ``mrr_num_neg > 0``, ``mrr`` and ``ind_mrr`` (TGB-style one-vs-many).

    Args:
        data (TemporalData): events sorted by time with ``msg`` ``[E, F]``.
        split (TemporalSplit): chronological split with new-node masks.
        batch_size (int, optional): training temporal batch. (default: ``200``)
        eval_batch_size (int, optional): evaluation batch. (default: ``200``)
        seed (int, optional): seed of the training negatives. (default: ``0``)
        max_train_events (int, optional): train on the first this many training events only.
            (default: all)
        mrr_num_neg (int, optional): fixed negatives per test event for the MRR (``0``: no
            MRR); capped at what the stream admits (its destinations less the positives
            sharing an event's source and time), see ``self.mrr_num_neg``. (default: ``0``)
        mrr_strategy (str, optional): how they are drawn (see
            :func:`~graphcl.data.negative.fixed_eval_negatives`). (default: ``"hist_rnd"``)
        mrr_seed (int, optional): their seed (the new-node test uses ``mrr_seed + 1``).
            (default: ``7``)
        ind_replay (bool, optional): also score the new-node test as NAT's released code
            does (``ind_replay_ap``, ``ind_replay_auc``): from a reset state that replays
            *every* event before the test period, the new nodes' training-period events
            included, instead of from the end-of-validation state. (default: ``False``)
    """

    def __init__(self, data: Any, split: TemporalSplit, *, batch_size: int = 200,
                 eval_batch_size: int = 200, seed: int = 0, max_train_events: int | None = None,
                 mrr_num_neg: int = 0, mrr_strategy: str = "hist_rnd", mrr_seed: int = 7,
                 ind_replay: bool = False) -> None:
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_size}, {eval_batch_size}")
        self.streams = {
            "train": EventStream(data, split.train_mask, max_train_events or None),
            "valid": EventStream(data, split.val_mask),
            "ind_valid": EventStream(data, split.new_node_val_mask),
            "test": EventStream(data, split.test_mask),
            "ind_test": EventStream(data, split.new_node_test_mask),
        }
        self.data, self.seed = data, int(seed)
        self.ind_replay = bool(ind_replay)
        if self.ind_replay:
            first_test = split.test_mask.nonzero()
            history = torch.zeros_like(split.test_mask)
            history[: int(first_test[0]) if first_test.numel() else history.numel()] = True
            self.streams["history"] = EventStream(data, history)
        ind_test = self.streams["ind_test"]
        negs = phase_negatives(data, self.streams["train"], ind_test, seed)
        self.train_neg, self.val_neg = negs["train"], negs["valid"]
        self.test_neg, self.ind_test_neg = negs["test"], negs["ind_test"]
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.mrr_negatives: dict[str, Tensor | None] = {"test": None, "ind_test": None}
        mrr_num_neg = min(int(mrr_num_neg), _max_negatives(data))
        self.mrr_num_neg = mrr_num_neg
        if mrr_num_neg > 0:
            self.mrr_negatives = {
                "test": fixed_eval_negatives(data, split.test_mask, mrr_num_neg, mrr_strategy,
                                             seed=int(mrr_seed)),
                "ind_test": fixed_eval_negatives(data, split.new_node_test_mask, mrr_num_neg,
                                                 mrr_strategy, seed=int(mrr_seed) + 1)}
        n = self.streams["train"].num_events
        self.num_train_examples = n
        self.num_train_batches = -(-n // batch_size)
        self._ctx: Any = None

    @staticmethod
    def _parts(strategy: Any) -> tuple[TGN, PRES | None]:
        model = strategy.model
        return next(iter(model.values())), model["pres"] if "pres" in model else None

    def on_epoch_start(self, strategy: Any) -> None:
        tgn, scheme = self._parts(strategy)
        if scheme is not None:
            scheme.reset_state()
        tgn.reset_state()

    def train_batches(self, strategy: Any):
        for _, src, dst, t, msg, e_id in self.streams["train"].batches(self.batch_size):
            yield src, dst, t, msg, e_id, self.train_neg.sample(src, dst, t)

    def training_loss(self, strategy: Any, batch: tuple) -> Tensor:
        src, dst, t, msg, _, neg = batch
        return self.link_loss(strategy, src, dst, t, msg, neg)

    def link_loss(self, strategy: Any, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor,
                  neg: Tensor, batch_context: tuple[Tensor, ...] | None = None) -> Tensor:
        r"""BCE of the events against their negatives (plus the scheme's term), keeping the
        memory context for :meth:`after_update`; ``batch_context``: see
        :meth:`~graphcl.models.tgn.TGN.forward` (a data-parallel shard)."""
        tgn, scheme = self._parts(strategy)
        shard = {} if batch_context is None else {"batch_context": batch_context}  # TGN only
        pos_out, neg_out, self._ctx = tgn(src, dst, t, neg, msg=msg, memory_hook=scheme,
                                          **shard)
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
        bs = self.eval_batch_size
        start = memory_backup(tgn, scheme)
        out = evaluate_stream(tgn, self.streams[main], neg, bs, scheme,
                              self.mrr_negatives.get(main))
        end = memory_backup(tgn, scheme)
        # New-node evaluation: validation restarts from the training memory, test from the
        # end-of-validation memory (TGN's backups); the main split's end state is kept.
        memory_restore(tgn, scheme, start)
        ind_out = evaluate_stream(tgn, self.streams[ind], ind_neg, bs, scheme,
                                  self.mrr_negatives.get(ind))
        res = {"ap": out["ap"], "auc": out["auc"], "ind_ap": ind_out["ap"],
               "ind_auc": ind_out["auc"]}
        if split == "test" and self.ind_replay:
            tgn.reset_state()
            if scheme is not None:
                scheme.reset_state()
            absorb_stream(tgn, self.streams["history"], bs)
            rep = evaluate_stream(tgn, self.streams[ind], ind_neg, bs, scheme)
            res.update(ind_replay_ap=rep["ap"], ind_replay_auc=rep["auc"])
        memory_restore(tgn, scheme, end if split == "valid" else start)
        if "mrr" in out:
            res["mrr"] = out["mrr"]
        if "mrr" in ind_out:
            res["ind_mrr"] = ind_out["mrr"]
        return res

    def backup_state(self, strategy: Any) -> dict[str, Any]:
        r"""Memory, pending messages, neighbour store, PRES statistics and the training
        sampler's generator (for :meth:`~graphcl.train.Engine.preserved_state`)."""
        tgn, scheme = self._parts(strategy)
        return {"parts": memory_backup(tgn, scheme), "train_neg": self.train_neg.state_dict()}

    def restore_state(self, strategy: Any, backup: dict[str, Any]) -> None:
        tgn, scheme = self._parts(strategy)
        memory_restore(tgn, scheme, backup["parts"])
        self.train_neg.load_state_dict(backup["train_neg"])

    def transient_state_keys(self, strategy: Any) -> set[str]:
        r"""Memory, pending messages, neighbour store and PRES statistics: reset at every
        epoch start (:meth:`on_epoch_start`), so per-epoch checkpoints need not hold them."""
        tgn, scheme = self._parts(strategy)
        key = next(iter(strategy.model.keys()))
        names = {f"{key}.{name}" for name in tgn.transient_state_names()}
        if scheme is not None:
            names |= {f"pres.gmm.{name}" for name, _ in scheme.gmm.named_buffers(recurse=False)}
        return names

    def state_dict(self) -> dict[str, Any]:
        return {"train_neg": self.train_neg.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_neg.load_state_dict(state["train_neg"])
