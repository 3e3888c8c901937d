r"""Tasks on continuous-time signed event streams (SEMBA's four), as an engine task.

Protocol (SEMBA, Sharma et al. 2023, made leak-free):

* chronological 70/15/15 split by time quantiles, no held-out nodes; the *transductive* test
  subset holds the test events whose two endpoints both occur in training, the *inductive* one
  those whose two endpoints both do not (events with one new endpoint count only overall);
* every epoch starts from an empty state; a batch is embedded from the state as of its start
  and its events are inserted after the optimiser step; validation continues from the training
  state, the test from the end-of-validation state (of the best epoch). The subsets are scored
  within that one test pass (each event from the state before its batch), not by replaying the
  test events again;
* tasks (``msg = [sign, |w| / w_max]`` is what the model sees of *earlier* events):

  ========== ============================================== ================================
  task       labels                                         loss
  ========== ============================================== ================================
  link       real events (either sign) 1, a random          BCE
             destination for each event 0
  sign       ``+`` 1, ``-`` 0                               BCE, the mean over each class
                                                            summed (classes weigh equally)
  signed_link ``+`` 0, ``-`` 1, random destination 2        cross-entropy averaged per class
  weight     ``sign · |w| / w_max``                         MSE (metrics in the data's units)
  ========== ============================================== ================================

* negatives: one uniform draw per event from the destinations of the training events (train,
  seeded by the run) or of all events (evaluation, fixed seeds), TGN's ``RandEdgeSampler``;
* metrics over all events of a split (not per batch): ``link``: ``auc``, ``ap``, ``f1``;
  ``sign``: ``auc``, ``f1_macro``, ``f1_pos``, ``f1_neg`` (the minority class on its own),
  ``auc`` taking ``+`` as the positive class, the threshold probability 0.5;
  ``signed_link``: ``f1_macro``, ``f1_weighted``, ``auc_macro`` (one-vs-rest), ``f1_pos``,
  ``f1_neg``, ``f1_none``; ``weight``: ``rmse``, ``pearson``. The subsets' are prefixed
  ``trans_`` and ``ind_``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.data.temporal import chronological_split
from graphcl.evaluate.metrics import average_precision, f1, roc_auc
from graphcl.train.temporal import destination_sampler

__all__ = ["SignedTemporalTask", "SIGNED_TASKS", "signed_metrics", "signed_monitor",
           "prepare_signed"]

SIGNED_TASKS = ("link", "sign", "signed_link", "weight")


def signed_monitor(task: str) -> tuple[str, str]:
    r"""The validation metric each task selects on, and its direction."""
    return {"link": ("valid_auc", "max"), "sign": ("valid_auc", "max"),
            "signed_link": ("valid_auc_macro", "max"), "weight": ("valid_rmse", "min")}[task]


def prepare_signed(data: Any, task: str, *, neutral: str = "drop") -> tuple[Any, float]:
    r"""Checks a signed stream for ``task`` and returns it with ``msg = [sign, |w| / w_max]``
    and ``w_max``.

    ``data`` needs ``src``, ``dst``, ``t`` and ``sign`` (and ``weight`` for the weight task, else
    ``|w| = 1``). Neutral events (sign 0) are dropped with a warning (``neutral="drop"``) or
    refused (``"error"``). An untimed signed graph (SNAP Epinions: ``src dst sign``), weights
    that are only :math:`\pm 1` for ``task="weight"``, and signs other than -1/0/+1 are refused
    with the reason.
    """
    if task not in SIGNED_TASKS:
        raise ValueError(f"unknown signed task {task!r}; choose from {list(SIGNED_TASKS)}")
    if neutral not in ("drop", "error"):
        raise ValueError(f"neutral must be 'drop' or 'error', got {neutral!r}")
    if not all(hasattr(data, k) for k in ("src", "dst", "t")):
        raise ValueError("this signed network has no timestamps (e.g. SNAP Epinions, "
                         "'src dst sign'): the temporal tasks need a timed stream "
                         "'src,dst,rating,time' (e.g. SNAP Bitcoin)")
    sign = getattr(data, "sign", None)
    if sign is None:
        raise ValueError("the stream has no 'sign' attribute: read it with the 'snap-signed' "
                         "format (src,dst,rating,time) or give TemporalData a sign per event")
    sign = sign.long()
    bad = ~torch.isin(sign, torch.tensor([-1, 0, 1]))
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"event {i}: sign {int(sign[i])} is not -1, 0 or +1")
    weight = getattr(data, "weight", None)
    weight = sign.float() if weight is None else weight.float()
    zero = sign == 0
    if bool(zero.any()):
        n0 = int(zero.sum())
        if neutral == "error":
            raise ValueError(f"{n0} neutral events (sign 0), the first is event "
                             f"{int(zero.nonzero()[0])}; drop them or set neutral=drop")
        warnings.warn(f"dropping {n0} neutral events (sign 0) of {sign.numel()}", stacklevel=2)
        keep = ~zero
        events = {k: v for k, v in data.items() if k != "node_ids"}
        data = data.__class__(**{k: v[keep] if isinstance(v, Tensor) and v.dim() >= 1
                                 and v.size(0) == keep.numel() else v for k, v in events.items()})
        sign, weight = sign[keep], weight[keep]  # ids keep their numbering
    if sign.numel() == 0:
        raise ValueError("the stream has no signed events")
    mag = weight.abs()
    w_max = float(mag.max())
    if task == "weight" and bool((mag == mag[0]).all()):
        raise ValueError(f"task 'weight' needs graded weights, but every |weight| is "
                         f"{float(mag[0]):g} (a ±1 sign network): use task sign or signed_link")
    if w_max <= 0:
        raise ValueError("every weight is 0")
    data.sign, data.weight = sign, weight
    data.msg = torch.stack([sign.float(), mag / w_max], 1)
    return data, w_max


def _or_nan(fn: Any, *args: Any, **kw: Any) -> float:
    try:
        return float(fn(*args, **kw))
    except ValueError:  # one class only, or empty
        return float("nan")


def signed_metrics(task: str, out: Tensor, sign: Tensor, weight: Tensor,
                   neg_out: Tensor | None = None, w_max: float = 1.0) -> dict[str, float]:
    r"""The metrics of ``task`` from the head's outputs on real events ``out`` (and on their
    negatives ``neg_out`` for ``link``/``signed_link``), the events' signs and weights."""
    if out.numel() == 0:
        return {}
    if task == "link":
        y = torch.cat([torch.ones_like(out), torch.zeros_like(neg_out)])
        p = torch.cat([out, neg_out]).sigmoid()
        return {"auc": _or_nan(roc_auc, y, p), "ap": _or_nan(average_precision, y, p),
                "f1": _or_nan(f1, y.long(), (p > 0.5).long())}
    if task == "sign":
        y, p = (sign > 0).long(), out.sigmoid()
        pred = (p > 0.5).long()
        return {"auc": _or_nan(roc_auc, y, p), "f1_macro": _or_nan(f1, y, pred, "macro"),
                "f1_pos": _or_nan(f1, y, pred, "binary", 1),
                "f1_neg": _or_nan(f1, y, pred, "binary", 0)}
    if task == "signed_link":
        logits = torch.cat([out, neg_out])
        y = torch.cat([(sign < 0).long(), torch.full((neg_out.size(0),), 2, dtype=torch.long)])
        prob = logits.softmax(-1)
        pred = prob.argmax(-1)
        res = {"f1_macro": _or_nan(f1, y, pred, "macro"),
               "f1_weighted": _or_nan(f1, y, pred, "weighted")}
        aucs = [_or_nan(roc_auc, (y == c).long(), prob[:, c]) for c in range(3)]
        res["auc_macro"] = sum(aucs) / 3
        for c, name in enumerate(("pos", "neg", "none")):
            tp = int(((pred == c) & (y == c)).sum())
            denom = int((pred == c).sum() + (y == c).sum())
            res[f"f1_{name}"] = 2 * tp / denom if denom else float("nan")
        return res
    target = sign.float() * weight.abs()
    pred = out * w_max
    rmse = float(((pred - target) ** 2).mean().sqrt())
    pc, tc = pred - pred.mean(), target - target.mean()
    den = float(pc.norm() * tc.norm())
    return {"rmse": rmse, "pearson": float((pc * tc).sum()) / den if den > 0 else float("nan")}


class _Stream:
    def __init__(self, data: Any, mask: Tensor) -> None:
        idx = mask.nonzero().view(-1)
        self.e_id, self.num_events = idx, idx.numel()
        self.src, self.dst, self.t = data.src[idx].long(), data.dst[idx].long(), data.t[idx]
        self.msg, self.sign, self.weight = data.msg[idx], data.sign[idx], data.weight[idx]

    def batches(self, batch_size: int):
        for i in range(0, self.num_events, batch_size):
            sl = slice(i, i + batch_size)
            yield sl, self.src[sl], self.dst[sl], self.t[sl], self.msg[sl], self.e_id[sl]


class SignedTemporalTask:
    r"""One of SEMBA's four tasks on a signed event stream, as a
    :class:`~graphcl.train.engine.Task` (see the module docstring for the protocol).

    The engine's model is a :class:`torch.nn.ModuleDict` whose first entry is the state model
    (:class:`~graphcl.models.semba.SEMBA` or :class:`~graphcl.models.tgn.TGN` with
    ``edge_dim=2``: ``embed(nodes, t) -> (z, ctx)`` and ``update_state(src, dst, t, msg,
    ctx=..., e_id=...)``) and whose ``"head"`` entry is a
    :class:`~graphcl.models.semba.SignedHead`.

    Args:
        data (TemporalData): the stream from :func:`prepare_signed`.
        task (str): ``"link"``, ``"sign"``, ``"signed_link"`` or ``"weight"``.
        w_max (float): the weight scale from :func:`prepare_signed`.
        batch_size (int, optional): training batch. (default: ``1000``)
        eval_batch_size (int, optional): evaluation batch. (default: ``1000``)
        seed (int, optional): seed of the training negatives. (default: ``0``)
        val_ratio (float, optional): validation share of time. (default: ``0.15``)
        test_ratio (float, optional): test share of time. (default: ``0.15``)
    """

    def __init__(self, data: Any, task: str, w_max: float, *, batch_size: int = 1000,
                 eval_batch_size: int = 1000, seed: int = 0, val_ratio: float = 0.15,
                 test_ratio: float = 0.15) -> None:
        if task not in SIGNED_TASKS:
            raise ValueError(f"unknown signed task {task!r}; choose from {list(SIGNED_TASKS)}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_size}, {eval_batch_size}")
        split = chronological_split(data, val_ratio, test_ratio, new_node_ratio=0.0)
        self.task, self.w_max, self.seed = task, float(w_max), int(seed)
        self.streams = {"train": _Stream(data, split.train_mask),
                        "valid": _Stream(data, split.val_mask),
                        "test": _Stream(data, split.test_mask)}
        seen = torch.zeros(int(data.num_nodes), dtype=torch.bool)
        tr = self.streams["train"]
        seen[tr.src] = True
        seen[tr.dst] = True
        self.subsets: dict[str, dict[str, Tensor]] = {}
        for name in ("valid", "test"):
            s = self.streams[name]
            a, b = seen[s.src], seen[s.dst]
            self.subsets[name] = {"trans": a & b, "ind": ~a & ~b}
        self.train_neg = destination_sampler(tr, self.seed + 10_000)
        self.eval_neg = {"valid": destination_sampler(data, 0), "test": destination_sampler(data, 2)}
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.uses_negatives = task in ("link", "signed_link")
        self.num_train_examples = tr.num_events
        self.num_train_batches = -(-tr.num_events // self.batch_size)
        self._ctx: Any = None

    @staticmethod
    def _parts(strategy: Any) -> tuple[Any, Any]:
        model = strategy.model
        return next(iter(model.values())), model["head"]

    def _score(self, model: Any, head: Any, src: Tensor, dst: Tensor, t: Tensor,
               neg: Tensor | None) -> tuple[Tensor, Tensor | None, Any]:
        r"""Head outputs on the batch's events (and negatives), each node embedded once at
        the earliest time it is queried in the batch."""
        b = src.numel()
        parts = [src, dst] if neg is None else [src, dst, neg]
        nodes = torch.cat(parts)
        times = t.to(torch.float64).repeat(len(parts))
        uniq, inv = torch.unique(nodes, return_inverse=True)
        t_first = torch.full((uniq.numel(),), math.inf, dtype=torch.float64)
        t_first.scatter_reduce_(0, inv, times, "amin")
        z, ctx = model.embed(uniq, t_first)
        z = z[inv]
        out = head(z[:b], z[b:2 * b])
        neg_out = head(z[:b], z[2 * b:]) if neg is not None else None
        return out, neg_out, ctx

    def on_epoch_start(self, strategy: Any) -> None:
        self._parts(strategy)[0].reset_state()

    def train_batches(self, strategy: Any):
        tr = self.streams["train"]
        for sl, src, dst, t, msg, e_id in tr.batches(self.batch_size):
            neg = self.train_neg.sample(src, dst, t) if self.uses_negatives else None
            yield src, dst, t, msg, e_id, neg, tr.sign[sl], tr.weight[sl]

    def training_loss(self, strategy: Any, batch: tuple) -> Tensor:
        model, head = self._parts(strategy)
        src, dst, t, msg, _, neg, sign, weight = batch
        out, neg_out, self._ctx = self._score(model, head, src, dst, t, neg)
        if self.task == "link":
            return (F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
                    + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        if self.task == "sign":
            y = (sign > 0).float()
            per = F.binary_cross_entropy_with_logits(out, y, reduction="none")
            return sum(per[y == c].mean() for c in (0.0, 1.0) if bool((y == c).any()))
        if self.task == "signed_link":
            logits = torch.cat([out, neg_out])
            y = torch.cat([(sign < 0).long(), torch.full_like(sign, 2)])
            per = F.cross_entropy(logits, y, reduction="none")
            terms = [per[y == c].mean() for c in range(3) if bool((y == c).any())]
            return sum(terms) / len(terms)
        target = sign.float() * weight.abs() / self.w_max
        return F.mse_loss(out, target)

    def after_update(self, strategy: Any, batch: tuple) -> None:
        model, _ = self._parts(strategy)
        src, dst, t, msg, e_id = batch[:5]
        model.update_state(src, dst, t, msg, ctx=self._ctx, e_id=e_id)
        model.detach()
        self._ctx = None

    @torch.no_grad()
    def stream_outputs(self, model: Any, head: Any, name: str,
                       ) -> tuple[Tensor, Tensor | None]:
        r"""The head's outputs on a split's events (and on their negatives), scored in
        chronological batches, each from the state as of the batch's start; the events are
        written into the state afterwards."""
        s = self.streams[name]
        model.eval()
        head.eval()
        sampler = self.eval_neg[name]
        sampler.reset()
        neg_all = sampler.sample(s.src, s.dst, s.t) if self.uses_negatives else None
        outs, negs = [], []
        for sl, src, dst, t, msg, e_id in s.batches(self.eval_batch_size):
            neg = neg_all[sl] if neg_all is not None else None
            out, neg_out, ctx = self._score(model, head, src, dst, t, neg)
            outs.append(out)
            negs.append(neg_out)
            model.update_state(src, dst, t, msg, ctx=ctx, e_id=e_id)
        return torch.cat(outs), torch.cat(negs) if neg_all is not None else None

    def _run(self, model: Any, head: Any, name: str) -> dict[str, float]:
        s = self.streams[name]
        if s.num_events == 0:
            return {}
        out, neg_out = self.stream_outputs(model, head, name)
        res = signed_metrics(self.task, out, s.sign, s.weight, neg_out, self.w_max)
        for sub, mask in self.subsets[name].items():
            part = signed_metrics(self.task, out[mask], s.sign[mask], s.weight[mask],
                                  neg_out[mask] if neg_out is not None else None, self.w_max)
            res.update({f"{sub}_{k}": v for k, v in part.items()})
        return res

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        model, head = self._parts(strategy)
        start = model.state_backup()
        res = self._run(model, head, split)
        if split == "test":  # the end-of-validation state stays for a later test
            model.state_restore(start)
        return res

    def backup_state(self, strategy: Any) -> dict[str, Any]:
        return {"model": self._parts(strategy)[0].state_backup(),
                "train_neg": self.train_neg.state_dict()}

    def restore_state(self, strategy: Any, backup: dict[str, Any]) -> None:
        self._parts(strategy)[0].state_restore(backup["model"])
        self.train_neg.load_state_dict(backup["train_neg"])

    def transient_state_keys(self, strategy: Any) -> set[str]:
        model, _ = self._parts(strategy)
        key = next(iter(strategy.model.keys()))
        return {f"{key}.{name}" for name in model.transient_state_names()}

    def state_dict(self) -> dict[str, Any]:
        return {"train_neg": self.train_neg.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_neg.load_state_dict(state["train_neg"])
