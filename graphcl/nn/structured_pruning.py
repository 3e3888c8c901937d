r"""Structured pruning to a FLOPs speed-up target, on Torch-Pruning's dependency graph.

:func:`prune_to_speedup` removes whole channels (with everything that depends on them: the
batch norm, the next layer's input channels, a residual partner) by a group importance, step
by step over the network (global pruning), until the measured FLOPs of one example fall by the
requested factor. Torch-Pruning (``pip install 'graphcl[metaprune]'``) supplies the dependency
graph, the group importances (L1 magnitude; group norm as DepGraph) and the FLOPs counter; it
is not rewritten here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from graphcl.nn.netgraph import WEIGHT, NetGraph, channel_groups, graph_parameters
from graphcl.nn.optional import optional_module

__all__ = ["prune_to_speedup", "count_flops", "require_torch_pruning", "IMPORTANCES",
           "graph_prune_to_speedup", "channel_importance", "slice_network", "group_penalty"]

IMPORTANCES = ("l1", "l2", "group-norm", "random")


def require_torch_pruning():
    r"""The ``torch_pruning`` module, or an ImportError saying how to install it."""
    return optional_module("torch_pruning", "structured pruning", "metaprune", "torch-pruning")


def count_flops(model: nn.Module, example: torch.Tensor) -> tuple[float, float]:
    r"""``(MACs, parameters)`` of one forward pass on ``example`` (Torch-Pruning's counter)."""
    tp = require_torch_pruning()
    was = model.training
    model.eval()
    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(model, example)
    model.train(was)
    return float(macs), float(params)


def _importance(name: str) -> Any:
    tp = require_torch_pruning()
    if name == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if name in ("l2", "group-norm"):
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "random":
        return tp.importance.RandomImportance()
    raise ValueError(f"unknown importance {name!r}; choose from {list(IMPORTANCES)}")


def prune_to_speedup(model: nn.Module, example: torch.Tensor, speedup: float, *,
                     importance: str = "l1", steps: int = 200, max_ratio: float = 0.95,
                     keep: list[nn.Module] | None = None) -> dict[str, float]:
    r"""Prunes ``model`` in place until its FLOPs on ``example`` are ``speedup`` times lower.

    Args:
        model (nn.Module): the network (its output layer is kept whole: pass it in ``keep``,
            or it is found as the last ``Linear``).
        example (Tensor): one input batch (its shape fixes the FLOPs).
        speedup (float): the target FLOPs ratio, ``>= 1``.
        importance (str, optional): ``"l1"`` (magnitude), ``"l2"`` / ``"group-norm"``
            (DepGraph's group norm) or ``"random"``. (default: ``"l1"``)
        steps (int, optional): pruning steps; each removes a slice of the channels left.
            (default: ``200``)
        max_ratio (float, optional): the largest fraction of a layer's channels removed.
            (default: ``0.95``)
        keep (list, optional): layers never pruned. (default: the last ``Linear``)

    Returns:
        dict: ``flops_before``, ``flops_after``, ``speedup`` (measured), ``params_before``,
        ``params_after``, ``steps``.

    Raises:
        ValueError: ``speedup < 1``, an unknown importance, or a target the network cannot
            reach (naming the speed-up reached).
    """
    if not float(speedup) >= 1.0:
        raise ValueError(f"speed-up target must be >= 1, got {speedup}")
    tp = require_torch_pruning()
    imp = _importance(importance)
    if keep is None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        keep = linears[-1:]
    flops0, params0 = count_flops(model, example)
    with torch.enable_grad():  # the dependency graph is traced through autograd
        pruner = tp.pruner.MetaPruner(model, example, importance=imp, global_pruning=True,
                                      pruning_ratio=max_ratio, max_pruning_ratio=max_ratio,
                                      iterative_steps=steps, ignored_layers=keep)
    flops, params, done = flops0, params0, 0
    while flops0 / flops < speedup and done < steps:
        pruner.step()
        done += 1
        flops, params = count_flops(model, example)
    reached = flops0 / flops
    if reached < speedup:
        raise ValueError(f"speed-up {speedup} is unreachable: {reached:.2f}x after removing up "
                         f"to {max_ratio:.0%} of every layer's channels")
    return {"flops_before": flops0, "flops_after": flops, "speedup": reached,
            "params_before": params0, "params_after": params, "steps": float(done)}


# --- networks Torch-Pruning cannot trace: PyG message passing ----------------------------
# Torch-Pruning's dependency graph follows autograd and does not know message-passing layers
# (it finds no groups in a PyG GCN and counts its FLOPs as the bias alone). For them the
# network's graph (:mod:`graphcl.nn.netgraph`) supplies the groups: a hidden channel is a node
# (or the nodes an identity shortcut joins), its group every weight incident to it.


def _layer_macs(graph: NetGraph, widths: Tensor, model: nn.Module, num_nodes: int,
                num_edges: int) -> Tensor:
    r"""MACs of a GNN's forward pass for channel counts ``widths`` (``[..., layers + 1]``:
    the input, then each layer's output): every weight layer costs ``N · c_in · c_out``, a
    GCN layer's propagation ``(E + N) · c_out`` more (self-loops added)."""
    from torch_geometric.nn import MessagePassing

    modules = dict(model.named_modules())
    total = torch.zeros(widths.shape[:-1], dtype=torch.float64)
    for i, layer in enumerate(graph.layers):
        cin, cout = widths[..., i].double(), widths[..., i + 1].double()
        total = total + num_nodes * cin * cout
        if isinstance(modules[layer.name], MessagePassing):
            total = total + (num_edges + num_nodes) * cout
    return total


def _chain(graph: NetGraph) -> None:
    for i, layer in enumerate(graph.layers):
        prev = graph.layers[i - 1].out_nodes if i else None
        if layer.edge_type != WEIGHT or (prev is not None and layer.in_nodes != prev):
            raise ValueError(f"{layer.name}: graph pruning handles a chain of layers (each "
                             "reading the previous one's output); use prune_to_speedup")


def _group_sums(graph: NetGraph, params: dict[str, Tensor], p: int, with_bn: bool
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    r"""``(magnitude, members, component, layer, prunable)``: for every channel group, the
    sum of ``|w|^p`` over its members (a layer's output row, the input columns that read it,
    with ``with_bn`` its batch-norm scale) and their number, stored at the group's id (its
    smallest node, :func:`~graphcl.nn.netgraph.channel_groups`); differentiable in
    ``params``."""
    n = graph.num_nodes
    mag, count = None, None
    for layer in graph.layers:
        w = params[layer.weight].abs().pow(p)
        out_nodes, in_nodes = torch.tensor(layer.out_nodes), torch.tensor(layer.in_nodes)
        if mag is None:
            mag, count = w.new_zeros(n), w.new_zeros(n)
        mag = mag.index_add(0, out_nodes, w.flatten(1).sum(1)) \
                 .index_add(0, in_nodes, w.transpose(0, 1).flatten(1).sum(1))
        count = count.index_add(0, out_nodes, w.new_ones(len(out_nodes))) \
                     .index_add(0, in_nodes, w.new_ones(len(in_nodes)))
        if with_bn and layer.bn is not None:
            mag = mag.index_add(0, out_nodes, params[f"{layer.bn}.weight"].abs().pow(p))
            count = count.index_add(0, out_nodes, w.new_ones(len(out_nodes)))
    comp, layer, prunable = channel_groups(graph)
    mag = mag.new_zeros(n).index_add(0, comp, mag)
    count = count.new_zeros(n).index_add(0, comp, count)
    return mag, count, comp, layer, prunable


def group_penalty(graph: NetGraph, params: dict[str, Tensor], reg: float, alpha: float
                  ) -> Tensor:
    r"""DepGraph's group-sparsity term :math:`\frac{\lambda}{2}\sum_g\gamma_g\lVert\theta_g
    \rVert^2` (see :mod:`graphcl.train.metaprune`) of the network ``params`` (as
    :func:`~graphcl.nn.netgraph.graph_parameters` returns them) laid out as ``graph``; its
    gradient is what Torch-Pruning's ``GroupNormPruner.regularize(bias=False)`` adds (tested)."""
    sq, count, comp, layer, prunable = _group_sums(graph, params, 2, with_bn=True)
    roots = (comp == torch.arange(graph.num_nodes)) & prunable
    sq, count, g = sq[roots], count[roots], layer[roots]
    with torch.no_grad():  # gamma is a constant of the step, as the injected gradient
        imp = (sq / count.clamp(min=1)).sqrt()
        size = int(g.max()) + 1
        hi = torch.zeros(size).scatter_reduce(0, g, imp, "amax", include_self=False)[g]
        lo = torch.zeros(size).scatter_reduce(0, g, imp, "amin", include_self=False)[g]
        gamma = torch.pow(torch.tensor(float(alpha)), (hi - imp) / (hi - lo).clamp(min=1e-12))
    return 0.5 * float(reg) * (gamma * sq).sum()


def channel_importance(graph: NetGraph, params: dict[str, Tensor], p: int = 2
                       ) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(importance, layer, prunable)`` per graph node: the group magnitude of each channel
    (``p = 1``: mean of its members' L1 norms; ``p = 2``: the square root of the mean of
    their squared L2 norms, DepGraph's), normalised by its layer's mean as Torch-Pruning's
    ``GroupMagnitudeImportance(normalizer="mean")`` for global ranking."""
    params = {k: v.detach().double() for k, v in params.items()}
    mag, count, comp, layer, prunable = _group_sums(graph, params, p, with_bn=False)
    imp = mag[comp] / count[comp].clamp(min=1)
    imp = imp.sqrt() if p == 2 else imp
    size = int(layer.max()) + 1
    layer_c = layer.clamp(max=size - 1)
    total = torch.zeros(size, dtype=torch.float64).index_add(0, layer_c[prunable], imp[prunable])
    num = torch.zeros(size, dtype=torch.float64).index_add(
        0, layer_c[prunable], torch.ones(int(prunable.sum()), dtype=torch.float64))
    imp = imp / (total / num.clamp(min=1)).clamp(min=1e-30)[layer_c]
    return imp, layer, prunable


def slice_network(model: nn.Module, graph: NetGraph, keep: Tensor) -> nn.Module:
    r"""Removes, in place, the channels of the graph nodes where ``keep`` is False from every
    layer of ``model`` (``Linear``, ``Conv2d``, PyG ``GCNConv``: output rows, bias, the
    following batch norm; input columns of the layers reading them) and returns it."""
    modules = dict(model.named_modules())

    def sub(path: str) -> nn.Module:
        return modules[path.rsplit(".", 1)[0]] if "." in path else model

    for layer in graph.layers:
        rows = keep[torch.tensor(layer.out_nodes)].nonzero().view(-1)
        cols = keep[torch.tensor(layer.in_nodes)].nonzero().view(-1)
        holder = sub(layer.weight)
        w = holder.weight.detach()[rows][:, cols].clone()
        holder.weight = nn.Parameter(w)
        for a, b in (("in_features", "out_features"), ("in_channels", "out_channels")):
            if hasattr(holder, a):
                setattr(holder, a, int(cols.numel()))
                setattr(holder, b, int(rows.numel()))
        owner = modules[layer.name]
        if owner is not holder:
            for a, b in (("in_channels", "out_channels"),):
                setattr(owner, a, int(cols.numel()))
                setattr(owner, b, int(rows.numel()))
        if layer.has_bias:
            bias_holder = sub(layer.bias)
            bias_holder.bias = nn.Parameter(bias_holder.bias.detach()[rows].clone())
        if layer.bn is not None:
            bn = modules[layer.bn]
            bn.weight = nn.Parameter(bn.weight.detach()[rows].clone())
            bn.bias = nn.Parameter(bn.bias.detach()[rows].clone())
            bn.running_mean = bn.running_mean[rows].clone()
            bn.running_var = bn.running_var[rows].clone()
            bn.num_features = int(rows.numel())
    return model


def graph_prune_to_speedup(model: nn.Module, graph: NetGraph, speedup: float, *,
                           num_nodes: int, num_edges: int, importance: str = "l1",
                           max_ratio: float = 0.95) -> dict[str, float]:
    r"""Global structured pruning of a chain of layers (a GNN of PyG ``GCNConv`` layers, an
    MLP) to a MACs speed-up on a graph of ``num_nodes`` nodes and ``num_edges`` edges:
    channels go in the order of their group importance (:func:`channel_importance`), at most
    ``max_ratio`` of any layer, until the MACs fall ``speedup`` times. ``model`` is sliced in
    place (:func:`slice_network`); returns what :func:`prune_to_speedup` returns."""
    if not float(speedup) >= 1.0:
        raise ValueError(f"speed-up target must be >= 1, got {speedup}")
    if importance not in IMPORTANCES:
        raise ValueError(f"unknown importance {importance!r}; choose from {list(IMPORTANCES)}")
    _chain(graph)
    params = graph_parameters(graph)
    if importance == "random":
        imp = torch.rand(graph.num_nodes, dtype=torch.float64)
        _, layer, prunable = channel_importance(graph, params)
    else:
        imp, layer, prunable = channel_importance(graph, params, 1 if importance == "l1" else 2)
    bounds = graph.layer_ptr
    n_layers = bounds.numel() - 1
    of = torch.bucketize(torch.arange(graph.num_nodes), bounds[1:], right=True)
    widths0 = (bounds[1:] - bounds[:-1]).double()
    cap = torch.floor(widths0 * float(max_ratio))       # most channels a layer may lose
    # one group is one channel here (_chain: no identity shortcuts join nodes)
    order = imp.masked_fill(~prunable, float("inf")).argsort(stable=True)
    order = order[: int(prunable.sum())]
    onehot = torch.nn.functional.one_hot(of[order], n_layers).double()
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1      # its place among its layer's channels
    allowed = rank < cap[of[order]]                    # a layer keeps 1 - max_ratio at least
    order = order[allowed]
    # removing the first k channels of `order`: the widths and MACs of every k at once
    widths = torch.cat([widths0[None], widths0 - onehot[allowed].cumsum(0)])
    macs = _layer_macs(graph, widths, model, num_nodes, num_edges)
    macs0 = float(macs[0])
    hit = (macs0 / macs >= float(speedup)).nonzero().view(-1)
    if hit.numel() == 0:
        raise ValueError(f"speed-up {speedup} is unreachable: {macs0 / float(macs[-1]):.2f}x "
                         f"after removing up to {max_ratio:.0%} of every layer's channels")
    k = int(hit[0])
    keep = torch.ones(graph.num_nodes, dtype=torch.bool)
    keep[order[:k]] = False
    params0 = sum(p.numel() for p in model.parameters())
    slice_network(model, graph, keep)
    return {"flops_before": macs0, "flops_after": float(macs[hit[0]]),
            "speedup": macs0 / float(macs[hit[0]]), "params_before": float(params0),
            "params_after": float(sum(p.numel() for p in model.parameters())),
            "steps": float(k)}
