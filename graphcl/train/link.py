r"""The NCN/NCNC static link-prediction protocol as an engine task.

Follows the protocol of the NCN/NCNC code (Wang et al., ICLR 2024; GraphPKU/NeuralCommonNeighbor,
``NeighborOverlap.py``):

* per epoch, one set of uniform training negatives on the train graph (1:1 with positives,
  indexed by the same permutation), mini-batches of a random permutation of the positive
  train pairs, **the last incomplete batch dropped**;
* target-link removal (``maskinput``): each batch's positive pairs are removed from the graph
  that the encoder and the decoder see for that step (a boolean mask on the sorted CSR, no
  re-sort);
* binary cross-entropy (the optimiser, Adam with two parameter groups, is the method's);
* evaluation every epoch on valid and test with Hits@K (strict ``>``, all negatives), or the
  citation2-style MRR with one-vs-many negatives; with the engine's
  ``selection="per_metric"`` each metric is taken at its own best validation epoch.

:class:`NCNLinkTask` is the task; :func:`prepare_link_data` splits a dataset and builds the
graphs; ``DEFAULTS`` are the authors' parser defaults. The method itself (model,
optimiser, engine settings) is :mod:`graphcl.methods.ncnc`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.nn.common_neighbors import Adjacency

__all__ = ["NCNLinkTask", "LinkData", "prepare_link_data", "DEFAULTS"]

DEFAULTS: dict[str, Any] = {
    # parser defaults of the authors' NeighborOverlap.py
    "predictor": "ncnc", "model": "puregcn", "mplayers": 1, "hiddim": 32, "epochs": 40,
    "batch_size": 8192, "testbs": 8192, "gnnlr": 3e-4, "prelr": 3e-4, "xdp": 0.3, "tdp": 0.3,
    "gnndp": 0.3, "gnnedp": 0.3, "predp": 0.3, "preedp": 0.3, "maskinput": False, "ln": False,
    "lnnn": False, "jk": False, "res": False, "use_xlin": False, "tailact": False,
    "twolayerlin": False, "beta": 1.0, "probscale": 5.0, "proboffset": 3.0, "pt": 0.5,
    "alpha": 1.0, "depth": 1, "trndeg": -1, "tstdeg": -1, "cndeg": -1, "splitsize": -1,
    "use_valedges_as_input": False, "metric": "hits@100", "hits_k": [20, 50, 100],
    "id_features": False, "init_from": None, "sparse_features": "auto", "cn_method": "auto",
    "joint_pos_neg": False, "save_checkpoint": False, "variants": None,
}


@dataclass
class LinkData:
    r"""Everything a run needs: features, the splits as ``[2, E]`` tensors, the graphs."""

    x: Tensor
    num_nodes: int
    split: Any  # graphcl.data.split.LinkSplit
    adj: Adjacency  # train graph (message passing and CN sets)
    test_adj: Adjacency  # graph for test scoring (train + valid edges with use_valedges_as_input)


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


@torch.no_grad()
def _score(predictor: torch.nn.Module, h: Tensor | None, adj: Adjacency, pairs: Tensor, bs: int) -> Tensor:
    if pairs.size(1) == 0:
        return torch.zeros(0)
    bs = bs if bs > 0 else pairs.size(1)
    return torch.cat([predictor(h, adj, pairs[:, s : s + bs]).float() for s in range(0, pairs.size(1), bs)])


def _one_vs_many_pairs(pos: Tensor, neg_dst: Tensor) -> Tensor:
    r"""The ``[2, E*K]`` pairs of each positive's source with its own ``K`` negative targets."""
    e, k = neg_dst.shape
    if pos.size(1) != e:
        raise ValueError(f"one-vs-many negatives: {e} rows for {pos.size(1)} positives")
    return torch.stack([pos[0].repeat_interleave(k), neg_dst.reshape(-1)])


class NCNLinkTask:
    r"""The NCN/NCNC training and evaluation protocol (see the module docstring).

    The engine's model is a :class:`torch.nn.ModuleDict` with a ``"predictor"`` (a decoder
    ``predictor(h, adj, pairs) -> logits``) and, except for the heuristics, an ``"encoder"``
    (``encoder(x, adj) -> h``).

    Args:
        data (LinkData): features, split and graphs (:func:`prepare_link_data`).
        batch_size (int): positive training pairs per step (the last incomplete batch is
            dropped).
        eval_batch_size (int): pairs scored at once in evaluation (``testbs``).
        maskinput (bool): remove each batch's positive pairs from its message-passing graph.
        joint_pos_neg (bool): score positives and negatives in one decoder call (one
            edge-dropout draw; faster) instead of the authors' two calls.
        hits_k (Sequence[int]): the K of the reported Hits@K (shared negatives).
    """

    def __init__(self, data: LinkData, *, batch_size: int, eval_batch_size: int,
                 maskinput: bool = False, joint_pos_neg: bool = False,
                 hits_k: Any = (20, 50, 100)) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        num = data.split.train_pos.size(1)
        self.data = data
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.maskinput = bool(maskinput)
        self.joint_pos_neg = bool(joint_pos_neg)
        self.hits_k = [int(k) for k in hits_k]
        self.num_train_batches = num // self.batch_size
        self.num_train_examples = self.num_train_batches * self.batch_size
        self._h: dict[str, Tensor | None] = {}

    def train_batches(self, strategy: Any):
        from graphcl.data.split import sample_train_negatives

        split = self.data.split
        pos_all = split.train_pos
        num = pos_all.size(1)
        if self.batch_size > num:
            raise ValueError(f"batch_size {self.batch_size} exceeds the {num} training pairs "
                             "(the last incomplete batch is dropped: nothing to train on)")
        neg_all = sample_train_negatives(split, num)
        perm = torch.randperm(num)
        for s in range(0, num - self.batch_size + 1, self.batch_size):
            idx = perm[s : s + self.batch_size]
            pos, neg = pos_all[:, idx], neg_all[:, idx]
            adj = self.data.adj.remove_pairs(pos) if self.maskinput else self.data.adj
            yield pos, neg, adj

    def training_loss(self, strategy: Any, batch: tuple[Tensor, Tensor, Adjacency]) -> Tensor:
        pos, neg, adj = batch
        encoder, predictor = strategy.model["encoder"], strategy.model["predictor"]
        h = encoder(self.data.x, adj)
        if self.joint_pos_neg:
            logits = predictor(h, adj, torch.cat([pos, neg], 1))
            pos_out, neg_out = logits[: pos.size(1)], logits[pos.size(1) :]
        else:  # the authors' two calls: independent edge-dropout draws for pos and neg
            pos_out, neg_out = predictor(h, adj, pos), predictor(h, adj, neg)
        return -F.logsigmoid(pos_out).mean() - F.logsigmoid(-neg_out).mean()

    def score_pairs(self, predictor: torch.nn.Module, h: Tensor | None, adj: Adjacency,
                    pairs: Tensor) -> Tensor:
        r"""Logits of ``pairs`` ``[2, P]`` in chunks of ``eval_batch_size`` (a data-parallel
        task scores its share and gathers the rest)."""
        return _score(predictor, h, adj, pairs, self.eval_batch_size)

    def begin_eval(self, strategy: Any, splits: Any) -> None:
        r"""One encoder pass per graph for the whole evaluation round."""
        enc = strategy.model["encoder"] if "encoder" in strategy.model else None
        h = enc(self.data.x, self.data.adj) if enc is not None else None
        self._h = {"valid": h, "train": h}
        if "test" in splits:
            same = self.data.test_adj is self.data.adj or enc is None
            self._h["test"] = h if same else enc(self.data.x, self.data.test_adj)

    def end_eval(self, strategy: Any) -> None:
        self._h = {}

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        from graphcl.evaluate import Evaluator

        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        if split not in self._h:
            self.begin_eval(strategy, (split,))
        predictor = strategy.model["predictor"]
        sp_data = self.data.split
        h = self._h[split]
        adj = self.data.adj if split == "valid" else self.data.test_adj
        pos = getattr(sp_data, f"{split}_pos")
        sp = self.score_pairs(predictor, h, adj, pos)
        if sp_data.valid_neg_dst is not None:
            neg_dst = getattr(sp_data, f"{split}_neg_dst")
            if neg_dst is None:
                raise ValueError(f"the split has one-vs-many validation negatives but none for {split}")
            sn = self.score_pairs(predictor, h, adj,
                                  _one_vs_many_pairs(pos, neg_dst)).view(neg_dst.shape)
            res = Evaluator.from_metric("mrr", ks=(1, 3, 10)).eval({"y_pred_pos": sp, "y_pred_neg": sn})
            return {name: float(res[name]) for name in ("mrr", "hits@1", "hits@3", "hits@10")}
        sn = self.score_pairs(predictor, h, adj, getattr(sp_data, f"{split}_neg"))
        out = {}
        for k in self.hits_k:  # OGB Hits@K: strict >, all negatives
            ev = Evaluator.from_metric(f"hits@{k}")
            out[f"hits@{k}"] = float(ev.eval({"y_pred_pos": sp, "y_pred_neg": sn})[f"hits@{k}"])
        return out
