r"""A membership-inference attack on link predictors (the GNNDelete harness's adaptation of
Olatunji et al.'s rebMIGraph attack), and the distance of an unlearned model to the retrained
one.

A *shadow* model of the target's architecture is trained on a disjoint part of the graph (the
test positives, as in the harness); an attacker learns, from the shadow's output distribution
``[1 − σ(s), σ(s)]`` of a pair, whether the pair was a training sample of the shadow
(its training pairs and negatives: *present*) or not (validation pairs: *absent*). It is then
asked about the deleted pairs through the target model: the mean ``P(present)`` on ``D_f``
after unlearning should fall to the retrained model's level.

GNNDelete's code reports the *MI ratio* ``mean(P_after(present) / P_before(present))`` (lower
means more forgotten); papers plot its improvement as "higher is better" (D2DGN's "+1.3 MI
ratio"): graphcl reports ``df_mi`` (mean ``P(present)`` after), ``mi_before`` and the code's
ratio ``mi_ratio``; their reciprocal is the other orientation.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.evaluate.metrics import roc_auc

__all__ = ["MembershipAttack", "output_kl", "param_distance"]


class MembershipAttack:
    r"""Trains the shadow model and the attacker once per split.

    Args:
        model (torch.nn.Module): a model of the target's architecture (copied and
            re-initialised for the shadow).
        x (Tensor): node features.
        split (LinkSplit): the target's split; the shadow trains on ``test_pos`` (its message
            graph and positives) and is probed on ``valid_pos`` as absent pairs.
        epochs (int, optional): shadow training epochs. (default: ``500``)
        lr (float, optional): shadow learning rate. (default: ``1e-2``)
        seed (int, optional): (default: ``0``)
    """

    def __init__(self, model: torch.nn.Module, x: Tensor, split, *, epochs: int = 500,
                 lr: float = 1e-2, seed: int = 0) -> None:
        from graphcl.train.tasks import fit_full_batch, link_bce_loss

        g = torch.Generator().manual_seed(int(seed))
        n = split.num_nodes
        with torch.random.fork_rng():
            torch.manual_seed(int(seed))
            shadow = copy.deepcopy(model)
            shadow.reset_parameters()
            pos = split.test_pos
            graph = torch.cat([pos, pos.flip(0)], 1)
            neg = torch.randint(0, n, (2, pos.size(1)), generator=g)
            fit_full_batch(shadow, lambda m, _: link_bce_loss(m, x, graph, pos, neg), epochs, lr)
            shadow.eval()
            with torch.no_grad():
                h = shadow.encode(x, graph)
                present = torch.cat([shadow.decode(h, pos), shadow.decode(h, neg)])
                absent = shadow.decode(h, split.valid_pos)
            feats = torch.cat([present, absent]).view(-1, 1)
            labels = torch.cat([torch.ones(present.numel()), torch.zeros(absent.numel())])
            perm = torch.randperm(labels.numel(), generator=g)
            cut = int(0.8 * labels.numel())
            tr, te = perm[:cut], perm[cut:]
            self.attacker = self._attacker()
            weight = torch.where(labels[tr] == 1, 0.5 / labels[tr].mean(),
                                 0.5 / (1 - labels[tr].mean()))

            def loss(attacker, _):
                out = attacker(self._features(feats[tr])).view(-1)
                return F.binary_cross_entropy_with_logits(out, labels[tr], weight=weight)

            fit_full_batch(self.attacker, loss, 300, 1e-2)
        self.attacker.eval()
        with torch.no_grad():
            held = self.attacker(self._features(feats[te])).view(-1)
        self.auc = float(roc_auc(labels[te], held))  # the attack's own held-out AUROC

    @staticmethod
    def _attacker() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))

    @classmethod
    def from_state(cls, state: dict, auc: float) -> MembershipAttack:
        r"""The attack of a saved attacker ``state_dict`` (no shadow training)."""
        attack = cls.__new__(cls)
        attack.attacker = cls._attacker()
        attack.attacker.load_state_dict(state)
        attack.attacker.eval()
        attack.auc = float(auc)
        return attack

    @staticmethod
    def _features(logits: Tensor) -> Tensor:
        p = torch.sigmoid(logits.view(-1))
        return torch.stack([1 - p, p], 1)

    @torch.no_grad()
    def present(self, model: torch.nn.Module, x: Tensor, edge_index: Tensor, pairs: Tensor
                ) -> Tensor:
        r"""``P(present)`` of each pair, from ``model``'s outputs on the graph ``edge_index``."""
        was = model.training
        model.eval()
        logits = model.decode(model.encode(x, edge_index), pairs)
        model.train(was)
        return torch.sigmoid(self.attacker(self._features(logits)).view(-1))


@torch.no_grad()
def output_kl(a: torch.nn.Module, b: torch.nn.Module, x: Tensor, edge_index: Tensor,
              pairs: Tensor) -> float:
    r"""Mean ``KL(σ(s_b) ‖ σ(s_a))`` over ``pairs`` of two link predictors on the same graph
    (``b``: the reference, e.g. the retrained model)."""
    la = a.decode(a.encode(x, edge_index), pairs)
    lb = b.decode(b.encode(x, edge_index), pairs)
    p = torch.sigmoid(lb).clamp(1e-6, 1 - 1e-6)
    return float((p * (p.log() - F.logsigmoid(la)) +
                  (1 - p) * ((1 - p).log() - F.logsigmoid(-la))).mean())


@torch.no_grad()
def param_distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    r"""L2 distance between the parameters two models share by name (``nan`` if none)."""
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    common = [k for k in pa if k in pb and pa[k].shape == pb[k].shape]
    if not common:
        return float("nan")
    return float(torch.sqrt(sum(((pa[k] - pb[k]) ** 2).sum() for k in common)))
