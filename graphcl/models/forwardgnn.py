r"""Layers and stacks for ForwardGNN (Park et al., "Forward Learning of Graph Neural Networks",
ICLR 2024) and its back-propagation baseline, built for full-batch training on a CPU.

A layer is ``ReLU(Conv(norm(H), A))`` with ``norm`` the parameter-free row normalisation
:math:`h / (\lVert h \rVert_2 + 10^{-8})` and ``Conv`` one of GCN (PyG's ``GCNConv``: self loops,
symmetric normalisation), GraphSAGE (``SAGEConv`` with mean aggregation) or GAT (``GATConv`` with
4 concatenated heads). GCN and SAGE are computed as *project, then propagate*
(:math:`\hat A (X W)`, :math:`A_{mean}(X W_l) + X W_r`), which is exact and lets a fixed sparse
bag-of-words input be multiplied in its sparse form (:class:`NodeInput`); the adjacency
operators are cached per graph (:class:`GraphOps`). GAT uses PyG's ``GATConv`` on dense input.

:class:`LayerStack` holds the layers. Forward learning trains each layer on its own detached
input (``graphcl.train.forward``); the back-propagation baseline runs the same stack end to end
(``final_act=False``, no input normalisation: PyG's ``GCN``/``GraphSAGE``/``GAT``).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv
from torch_geometric.nn.dense.linear import Linear

__all__ = ["NodeInput", "GraphOps", "LocalConv", "LayerStack", "ForwardGNN", "CONVS",
           "row_normalize", "sparse_block"]

CONVS = ("gcn", "sage", "gat")
EPS = 1e-8


def _to_csr(t: Tensor) -> Tensor:
    if t.layout == torch.sparse_csr:
        return t
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return t.to_sparse_csr()


def row_normalize(x: Tensor) -> Tensor:
    r""":math:`x / (\lVert x \rVert_2 + 10^{-8})` row by row (ForwardGNN's "layer norm")."""
    return x / (x.norm(dim=-1, keepdim=True) + EPS)


class _FixedSparseMatmul(torch.autograd.Function):
    r""":math:`X W^\top` for a fixed sparse CSR ``X`` (no gradient) and its transpose
    ``X^\top`` (CSR), so that the weight gradient :math:`(X^\top G)^\top` is a sparse-dense
    product as well (torch's own backward through a CSR product is several times slower)."""

    @staticmethod
    def forward(ctx: Any, weight: Tensor, x: Tensor, xt: Tensor) -> Tensor:
        ctx.save_for_backward(xt)
        return torch.sparse.mm(x, weight.t())

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (xt,) = ctx.saved_tensors
        return torch.sparse.mm(xt, grad).t(), None, None


def sparse_block(t: Tensor) -> tuple[Tensor, Tensor]:
    r"""A sparse tensor as the ``(CSR, transposed CSR)`` pair :class:`NodeInput` multiplies
    with, built once so that inputs rebuilt every step share it."""
    csr = _to_csr(t.coalesce() if t.is_sparse else t).to(torch.float32)
    return csr, _to_csr(csr.to_sparse_coo().t().coalesce())


class NodeInput:
    r"""A fixed (detached) layer input made of column blocks, each dense or sparse CSR, with
    the row normalisation of the concatenated row applied as a per-row scale.

    :meth:`linear` computes :math:`\mathrm{norm}([B_1 \| B_2 \| \dots]) W^\top` without
    concatenating or densifying: :math:`s \odot \sum_b B_b W_b^\top`.

    Args:
        *blocks (Tensor): ``[N, F_b]`` blocks, dense or sparse (converted to CSR).
        normalize (bool or str, optional): ``True`` normalises the concatenated row,
            ``"block"`` each block's row on its own (the top-down variants'
            :math:`[\mathrm{norm}(S_{l-1}) \| \mathrm{norm}(S_{l+1})]`), ``False`` nothing.
            (default: ``True``)
    """

    def __init__(self, *blocks: Tensor, normalize: bool | str = True) -> None:
        if not blocks:
            raise ValueError("NodeInput needs at least one block")
        if normalize not in (True, False, "block"):
            raise ValueError(f"NodeInput: normalize must be True, False or 'block', got "
                             f"{normalize!r}")
        n = blocks[0][0].size(0) if isinstance(blocks[0], tuple) else blocks[0].size(0)
        self.blocks: list[tuple[Tensor, Tensor | None]] = []
        sq = torch.zeros(n)
        self.block_scale: list[Tensor | None] = []
        for b in blocks:
            before = sq.clone() if normalize == "block" else None
            rows_b = b[0].size(0) if isinstance(b, tuple) else b.size(0)
            if rows_b != n:
                raise ValueError(f"NodeInput: blocks have {n} and {rows_b} rows")
            if isinstance(b, tuple) or b.is_sparse or b.layout == torch.sparse_csr:
                csr, xt = b if isinstance(b, tuple) else sparse_block(b)
                rows = torch.repeat_interleave(torch.arange(n), csr.crow_indices().diff())
                sq.index_add_(0, rows, csr.values() ** 2)
                self.blocks.append((csr, xt))
            else:
                b = b.detach().float()
                sq += (b * b).sum(1)
                self.blocks.append((b, None))
            if before is not None:
                self.block_scale.append(1.0 / ((sq - before).clamp(min=0).sqrt() + EPS))
        self.num_nodes = n
        self.widths = [b.size(1) for b, _ in self.blocks]
        self.dim = sum(self.widths)
        self.scale = 1.0 / (sq.sqrt() + EPS) if normalize is True else None
        if normalize != "block":
            self.block_scale = [None] * len(self.blocks)

    def linear(self, weight: Tensor, shared: dict | None = None) -> Tensor:
        r""":math:`\mathrm{norm}(X) W^\top` for ``weight`` ``[out, dim]``. ``shared``: products
        of sparse blocks already computed with this weight, by block identity (several inputs
        that share a sparse block multiply it once, see :meth:`linear_many`)."""
        if weight.size(1) != self.dim:
            raise ValueError(f"NodeInput: weight expects {weight.size(1)} input columns, the "
                             f"input has {self.dim}")
        out, a = None, 0
        for (b, bt), w, bs in zip(self.blocks, self.widths, self.block_scale, strict=True):
            if w == 0:
                continue
            wb = weight[:, a:a + w]
            a += w
            if bt is not None:
                part = shared.get(id(b)) if shared is not None else None
                if part is None:
                    part = _FixedSparseMatmul.apply(wb, b, bt)
                    if shared is not None:
                        shared[id(b)] = part
            else:
                part = b @ wb.t()
            part = part * bs.unsqueeze(1) if bs is not None else part
            out = part if out is None else out + part
        return out * self.scale.unsqueeze(1) if self.scale is not None else out

    @staticmethod
    def linear_many(inputs: list[NodeInput], weight: Tensor) -> list[Tensor]:
        r""":meth:`linear` of several inputs, each sparse block they share multiplied once
        (forward-forward's negative copies differ only in their appended labels)."""
        shared: dict = {}
        return [x.linear(weight, shared) for x in inputs]

    def dense(self) -> Tensor:
        r"""The normalised input as one dense ``[N, dim]`` tensor."""
        parts = []
        for (b, bt), bs in zip(self.blocks, self.block_scale, strict=True):
            d = b.to_dense() if bt is not None else b
            parts.append(d * bs.unsqueeze(1) if bs is not None else d)
        x = torch.cat(parts, 1)
        return x * self.scale.unsqueeze(1) if self.scale is not None else x


class _Propagate(torch.autograd.Function):
    r""":math:`A H` for a fixed sparse CSR ``A`` with its transpose given, so the backward
    :math:`A^\top G` is a plain CSR product (torch's own backward through a CSR product
    rebuilds the transpose every call)."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, a: Tensor, at: Tensor) -> Tensor:
        ctx.save_for_backward(at)
        return torch.sparse.mm(a, h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (at,) = ctx.saved_tensors
        return torch.sparse.mm(at, grad), None, None


def propagate(a: tuple[Tensor, Tensor], h: Tensor) -> Tensor:
    r""":math:`A H` for ``a = (A, A^T)`` in CSR (see :class:`GraphOps`)."""
    return _Propagate.apply(h, a[0], a[1]) if h.requires_grad else torch.sparse.mm(a[0], h)


class GraphOps:
    r"""A graph's propagation operators, built once and cached: GCN's
    :math:`\hat D^{-1/2}(A + I)\hat D^{-1/2}` (existing self loops replaced, duplicates
    counted, as ``GCNConv``) and the mean over in-neighbours (``SAGEConv``), each as the
    pair ``(A, A^T)`` of sparse CSR matrices with rows = targets (:func:`propagate`); GAT reads
    ``edge_index``.

    Args:
        edge_index (Tensor): ``[2, E]``, messages flow ``edge_index[0] -> edge_index[1]``.
        num_nodes (int): Number of nodes.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        if edge_index.numel() and int(edge_index.max()) >= num_nodes:
            raise ValueError(f"GraphOps: edge_index refers to node {int(edge_index.max())} "
                             f"but the graph has {num_nodes} nodes")
        self.edge_index, self.num_nodes = edge_index.long(), int(num_nodes)
        self._gcn: tuple[Tensor, Tensor] | None = None
        self._mean: tuple[Tensor, Tensor] | None = None

    def _pair(self, row: Tensor, col: Tensor, val: Tensor) -> tuple[Tensor, Tensor]:
        n = self.num_nodes
        return sparse_block(torch.sparse_coo_tensor(torch.stack([row, col]), val, (n, n),
                                                    check_invariants=False))

    @property
    def gcn(self) -> tuple[Tensor, Tensor]:
        r"""``(Â, Â^T)`` in CSR."""
        if self._gcn is None:
            src, dst = self.edge_index
            keep = src != dst
            loop = torch.arange(self.num_nodes)
            src, dst = torch.cat([src[keep], loop]), torch.cat([dst[keep], loop])
            w = torch.ones(src.numel())
            deg = torch.zeros(self.num_nodes).index_add_(0, dst, w)
            dinv = deg.pow(-0.5)
            self._gcn = self._pair(dst, src, dinv[src] * w * dinv[dst])
        return self._gcn

    @property
    def mean(self) -> tuple[Tensor, Tensor]:
        r"""``(A_{mean}, A_{mean}^T)`` in CSR."""
        if self._mean is None:
            src, dst = self.edge_index
            deg = torch.zeros(self.num_nodes).index_add_(0, dst, torch.ones(dst.numel()))
            self._mean = self._pair(dst, src, 1.0 / deg[dst])
        return self._mean


class LocalConv(nn.Module):
    r"""One GNN layer: GCN, GraphSAGE (mean) or GAT (``heads`` concatenated heads of
    ``out_channels / heads``, or with ``concat=False`` averaged heads of ``out_channels``), with
    PyG's initialisations, followed by ReLU when ``act``.

    ``forward(x, graph)`` takes a :class:`NodeInput` (or a dense tensor, used as is) and a
    :class:`GraphOps`.
    """

    def __init__(self, conv: str, in_channels: int, out_channels: int, *, heads: int = 4,
                 act: bool = True, concat: bool = True) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"LocalConv: conv must be one of {list(CONVS)}, got {conv!r}")
        if conv == "gat" and concat and out_channels % heads:
            raise ValueError(f"LocalConv: GAT's width {out_channels} must be divisible by its "
                             f"{heads} heads")
        self.conv, self.act = conv, bool(act)
        self.in_channels, self.out_channels = in_channels, out_channels
        if conv == "gcn":
            self.lin = Linear(in_channels, out_channels, bias=False, weight_initializer="glorot")
            self.bias = nn.Parameter(torch.zeros(out_channels))
        elif conv == "sage":
            self.lin_l = Linear(in_channels, out_channels, bias=True)
            self.lin_r = Linear(in_channels, out_channels, bias=False)
        elif concat:
            self.gat = GATConv(in_channels, out_channels // heads, heads=heads)
        else:  # PyG's GAT maps to its output channels with the heads averaged
            self.gat = GATConv(in_channels, out_channels, heads=heads, concat=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.conv == "gcn":
            self.lin.reset_parameters()
            nn.init.zeros_(self.bias)
        elif self.conv == "sage":
            self.lin_l.reset_parameters()
            self.lin_r.reset_parameters()
        else:
            self.gat.reset_parameters()

    def forward_many(self, inputs: list[NodeInput], graph: GraphOps) -> list[Tensor]:
        r"""The layer on several inputs over one graph: shared sparse blocks are multiplied
        once and the propagation runs once over the inputs side by side."""
        if self.conv == "gat" or len(inputs) == 1:
            return [self(x, graph) for x in inputs]
        k = len(inputs)
        if self.conv == "gcn":
            proj = torch.cat(NodeInput.linear_many(inputs, self.lin.weight), 1)
            outs = (propagate(graph.gcn, proj) + self.bias.repeat(k)).chunk(k, 1)
        else:
            proj = torch.cat(NodeInput.linear_many(inputs, self.lin_l.weight), 1)
            agg = (propagate(graph.mean, proj) + self.lin_l.bias.repeat(k)).chunk(k, 1)
            roots = NodeInput.linear_many(inputs, self.lin_r.weight)
            outs = [a + r for a, r in zip(agg, roots, strict=True)]
        return [F.relu(o) if self.act else o for o in outs]

    def forward_graphs(self, x: NodeInput | Tensor, graphs: list[GraphOps]) -> list[Tensor]:
        r"""The layer on one input over several graphs (forward-forward's positive and
        negative wirings): the projection is computed once."""
        def lin(w: Tensor) -> Tensor:
            return x.linear(w) if isinstance(x, NodeInput) else x @ w.t()

        if self.conv == "gcn":
            proj = lin(self.lin.weight)
            outs = [propagate(g.gcn, proj) + self.bias for g in graphs]
        elif self.conv == "sage":
            proj, root = lin(self.lin_l.weight), lin(self.lin_r.weight)
            outs = [propagate(g.mean, proj) + self.lin_l.bias + root for g in graphs]
        else:
            dense = x.dense() if isinstance(x, NodeInput) else x
            outs = [self.gat(dense, g.edge_index) for g in graphs]
        return [F.relu(o) if self.act else o for o in outs]

    def forward(self, x: NodeInput | Tensor, graph: GraphOps) -> Tensor:
        return self.forward_graphs(x, [graph])[0]

    def extra_repr(self) -> str:
        return f"{self.conv}, {self.in_channels} -> {self.out_channels}, act={self.act}"


class LayerStack(nn.Module):
    r"""``num_layers`` :class:`LocalConv` layers: ``in -> hidden -> ... -> hidden`` (or ``->
    out_channels`` for the last), ReLU after every layer (``final_act=True``, ForwardGNN) or
    between layers only (the back-propagation baseline, PyG's basic GNNs with dropout 0).

    Args:
        in_channels (int): Input width.
        hidden_channels (int): Hidden width.
        num_layers (int): Layers (>= 1).
        conv (str, optional): ``"gcn"``, ``"sage"`` or ``"gat"``. (default: ``"gcn"``)
        out_channels (int, optional): Width of the last layer. (default: ``hidden_channels``)
        final_act (bool, optional): ReLU after the last layer. (default: ``True``)
        heads (int, optional): GAT heads. (default: ``4``)
        in_widths (list of int, optional): Each layer's input width, overriding the chain
            (the top-down variants feed a layer its neighbours' states too).
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 conv: str = "gcn", *, out_channels: int | None = None, final_act: bool = True,
                 heads: int = 4, in_widths: list[int] | None = None) -> None:
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"LayerStack: num_layers must be a positive integer, got "
                             f"{num_layers!r}")
        to_out = out_channels is not None and not final_act  # PyG: the last GAT averages heads
        out_channels = hidden_channels if out_channels is None else out_channels
        widths = [hidden_channels] * (num_layers - 1) + [out_channels]
        ins = in_widths or [in_channels] + widths[:-1]
        if len(ins) != num_layers:
            raise ValueError(f"LayerStack: {len(ins)} input widths for {num_layers} layers")
        self.layers = nn.ModuleList(
            LocalConv(conv, ins[i], widths[i], heads=heads,
                      act=final_act or i < num_layers - 1,
                      concat=not (to_out and i == num_layers - 1)) for i in range(num_layers))
        self.conv, self.num_layers = conv, num_layers

    def __len__(self) -> int:
        return self.num_layers

    def __getitem__(self, i: int) -> LocalConv:
        return self.layers[i]

    def forward(self, x: NodeInput | Tensor, graph: GraphOps) -> Tensor:
        r"""End to end (the back-propagation baseline): every layer reads the previous output
        as it is (no detaching, no normalisation after the first input)."""
        h: NodeInput | Tensor = x
        for layer in self.layers:
            h = layer(h, graph)
        return h  # type: ignore[return-value]


class ForwardGNN(nn.Module):
    r"""What forward learning trains and keeps: the :class:`LayerStack` and the fixed random
    tensors the variants draw once — the class virtual nodes' input features
    (:math:`C \times F`, :math:`\mathcal N(0, 1)`, never trained) and, for the forward-forward
    variants, each node's random order of its wrong classes (negative copy :math:`k` gives node
    :math:`v` the class ``wrong[v, k]``). All are buffers, so a checkpoint restores them.

    Args:
        stack (LayerStack): The layers.
        num_classes (int, optional): Classes (``0``: none). (default: ``0``)
        in_features (int, optional): Width of the virtual nodes' features. (default: ``0``)
        labels (Tensor, optional): ``[N]`` labels; when given, ``wrong`` is drawn.
        virtual (bool, optional): Draw the virtual nodes' features. (default: ``True``)
        seed (int, optional): Seed of the draws. (default: ``0``)
    """

    def __init__(self, stack: LayerStack, *, num_classes: int = 0, in_features: int = 0,
                 labels: Tensor | None = None, virtual: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.stack = stack
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("virtual_x", torch.randn(num_classes if virtual else 0,
                                                      in_features, generator=g))
        if labels is not None and num_classes > 1:
            n, c = labels.numel(), num_classes
            order = torch.rand(n, c - 1, generator=g).argsort(1)
            # the k-th wrong class of v: skip v's own label in 0..C-1
            wrong = order + (order >= labels.view(-1, 1)).long()
            self.register_buffer("wrong", wrong)
        else:
            self.register_buffer("wrong", torch.zeros(0, 0, dtype=torch.long))

    @property
    def num_layers(self) -> int:
        return self.stack.num_layers
