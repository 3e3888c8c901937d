r"""The link predictors of the graph-unlearning comparison (GNNDelete, D2DGN).

:class:`DotGNN` is GNNDelete's backbone: two message-passing layers ``in → 128 → 64`` (GCN,
single-head GAT, or GIN whose inner network is one linear layer), ReLU between them, no dropout,
and the inner-product decoder. :class:`DeletionGNN` is GNNDelete's unlearned model: the frozen
backbone with a learnt ``d × d`` *deletion operator* after each layer, applied only to the rows
of the nodes near the deleted edges. :class:`AnalyticHead` is a closed-form (recursive
least-squares) link scorer over frozen embeddings from which samples can be removed exactly.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv, GCNConv, GINConv

__all__ = ["DotGNN", "DeletionGNN", "AnalyticHead", "BACKBONES"]

BACKBONES = ("gcn", "gat", "gin")


def _conv(kind: str, a: int, b: int) -> torch.nn.Module:
    if kind == "gcn":
        return GCNConv(a, b)
    if kind == "gat":
        return GATConv(a, b, heads=1)
    if kind == "gin":
        return GINConv(torch.nn.Linear(a, b))
    raise ValueError(f"backbone must be one of {BACKBONES}, got {kind!r}")


class DotGNN(torch.nn.Module):
    r"""A message-passing encoder with an inner-product link decoder.

    Args:
        in_channels (int): input feature size.
        hidden_channels (int, optional): first layer's width. (default: ``128``)
        out_channels (int, optional): embedding width. (default: ``64``)
        backbone (str, optional): ``"gcn"``, ``"gat"`` or ``"gin"``. (default: ``"gcn"``)
        num_layers (int, optional): layers; the inner ones are ``hidden_channels`` wide.
            (default: ``2``)
    """

    def __init__(self, in_channels: int, hidden_channels: int = 128, out_channels: int = 64,
                 backbone: str = "gcn", num_layers: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.backbone = backbone
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.dims = dims[1:]  # every layer's output width
        self.convs = torch.nn.ModuleList(_conv(backbone, a, b) for a, b in zip(dims[:-1], dims[1:],
                                                                                 strict=True))

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def _input(self, x: Tensor) -> Tensor:
        r"""Sparse bag-of-words features (density under 10 %) go to the first GCN/GAT layer
        as CSR: its ``x W`` and the weight gradient cost ``nnz`` instead of ``N · F``
        (Planetoid Cora: 2,708 × 1,433 at 1.3 %, about 6× faster), with the same values. The
        CSR copy is cached per tensor (and its in-place version)."""
        if self.backbone == "gin" or x.layout != torch.strided or x.dim() != 2 or x.numel() < 4096:
            return x
        cache = self.__dict__.get("_csr")
        if cache is not None and cache[0] is x and cache[1] == x._version:
            return cache[2]
        sparse = x
        if float((x != 0).float().mean()) < 0.1:
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                sparse = x.to_sparse_csr()
        self.__dict__["_csr"] = (x, x._version, sparse)
        return sparse

    def __getstate__(self) -> dict:  # deepcopy / pickling leave the cache behind
        state = self.__dict__.copy()
        state.pop("_csr", None)
        return state

    def layers(self, x: Tensor, edge_index: Tensor, edit=None) -> list[Tensor]:
        r"""Every layer's output (before the ReLU); ``edit(i, h) -> h`` may change layer ``i``'s
        output before it feeds the next layer (GNNDelete's operators)."""
        x = self._input(x)
        out = []
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if edit is not None:
                x = edit(i, x)
            out.append(x)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return out

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.layers(x, edge_index)[-1]

    @staticmethod
    def decode(h: Tensor, pairs: Tensor) -> Tensor:
        r"""Logits ``<h_u, h_v>`` of the pairs ``[2, B]``."""
        return (h[pairs[0]] * h[pairs[1]]).sum(-1)


class DeletionGNN(torch.nn.Module):
    r"""GNNDelete's unlearned model (Cheng et al., ICLR 2023): the frozen ``base`` with a
    ``d × d`` deletion operator after each layer, applied to the rows of the nodes in the
    deleted edges' local neighbourhood (``masks[i]``: the ``i+1``-hop nodes after layer ``i``).

    Args:
        base (DotGNN): the trained model; a frozen copy is kept.
        masks (list[Tensor]): ``[N]`` bool per layer.
        init (str, optional): ``"paper"``: every entry ``1/1000`` (the authors' code);
            ``"identity"``: the operators start as the identity. (default: ``"paper"``)
    """

    def __init__(self, base: DotGNN, masks: list[Tensor], init: str = "paper") -> None:
        super().__init__()
        if init not in ("paper", "identity"):
            raise ValueError(f"init must be 'paper' or 'identity', got {init!r}")
        if len(masks) != len(base.convs):
            raise ValueError(f"one mask per layer: {len(base.convs)} layers, {len(masks)} masks")
        self.base = copy.deepcopy(base)  # the caller's model stays as it was, trainable
        for p in self.base.parameters():
            p.requires_grad_(False)
        dims = base.dims
        self.operators = torch.nn.ParameterList(
            torch.nn.Parameter(torch.eye(d) if init == "identity" else torch.full((d, d), 1e-3))
            for d in dims)
        for i, m in enumerate(masks):
            self.register_buffer(f"mask{i}", m.clone().bool())

    def masks(self) -> list[Tensor]:
        return [getattr(self, f"mask{i}") for i in range(len(self.operators))]

    def set_masks(self, masks: list[Tensor]) -> None:
        for i, m in enumerate(masks):
            getattr(self, f"mask{i}").copy_(m.bool())

    def _edit(self, i: int, h: Tensor) -> Tensor:
        mask = getattr(self, f"mask{i}")
        return torch.where(mask.view(-1, 1), h @ self.operators[i], h)

    def layers(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        return self.base.layers(x, edge_index, edit=self._edit)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.layers(x, edge_index)[-1]

    decode = staticmethod(DotGNN.decode)


class AnalyticHead(torch.nn.Module):
    r"""A ridge-regression link scorer on frozen pair features ``φ(u, v) = h_u ⊙ h_v``, kept in
    recursive-least-squares form: ``R = (ΦᵀΦ + λI)⁻¹`` and ``W = R Φᵀy``. Adding
    (:meth:`fit`/:meth:`add`) or removing (:meth:`remove`) samples updates both in closed form
    (Woodbury), so a removal gives — up to round-off — the head fitted without those samples,
    and no sample is stored.

    Args:
        dim (int): feature width.
        reg (float, optional): ridge ``λ``. (default: ``1.0``)
    """

    def __init__(self, dim: int, reg: float = 1.0) -> None:
        super().__init__()
        if reg <= 0:
            raise ValueError(f"reg must be > 0, got {reg}")
        self.register_buffer("R", torch.eye(dim, dtype=torch.float64) / reg)
        self.register_buffer("W", torch.zeros(dim, 1, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @staticmethod
    def features(h: Tensor, pairs: Tensor) -> Tensor:
        return (h[pairs[0]] * h[pairs[1]]).double()

    def _update(self, phi: Tensor, y: Tensor, sign: float) -> None:
        # R' = (R⁻¹ ± ΦᵀΦ)⁻¹ = R ∓ RΦᵀ(I ± ΦRΦᵀ)⁻¹ΦR;  W' = W ± R'Φᵀ(y − ΦW)
        phi, y = phi.double(), y.double().view(-1, 1)
        rp = self.R @ phi.T
        inner = torch.eye(phi.size(0), dtype=torch.float64) + sign * (phi @ rp)
        R = self.R - sign * rp @ torch.linalg.solve(inner, rp.T)
        R = (R + R.T) / 2
        self.W.copy_(self.W + sign * R @ phi.T @ (y - phi @ self.W))
        self.R.copy_(R)

    def add(self, phi: Tensor, y: Tensor, chunk: int = 2048) -> None:
        r"""Adds samples (rows of ``phi`` with targets ``y``)."""
        for a, b in zip(phi.split(chunk), y.split(chunk), strict=True):
            self._update(a, b, +1.0)
        self.count += phi.size(0)

    fit = add

    def remove(self, phi: Tensor, y: Tensor, chunk: int = 2048) -> None:
        r"""Removes samples that were added before (their exact contribution)."""
        if phi.size(0) > int(self.count):
            raise ValueError(f"cannot remove {phi.size(0)} samples from a head fitted on "
                             f"{int(self.count)}")
        for a, b in zip(phi.split(chunk), y.split(chunk), strict=True):
            self._update(a, b, -1.0)
        self.count -= phi.size(0)

    def forward(self, phi: Tensor) -> Tensor:
        return (phi.double() @ self.W).view(-1).float()
