r"""Networks as graphs and back: the input representation of a graph metanetwork.

:func:`network_to_graph` reads a network's module graph (a ``torch.fx`` trace, not the
positions of its ``state_dict`` keys) and builds a graph whose **nodes are neurons / channels**
— the input channels, then every output channel of every convolution and linear layer, in
execution order — and whose **edges are weights**: one edge per (input channel, output
channel) pair of a layer, carrying the flattened kernel (1×1 kernels and linear weights in the
centre of a zero ``k × k`` kernel). Residual additions merge the branches' channels: an identity
shortcut adds one edge per channel (type ``IDENTITY``, a one-hot centre: only the diagonal,
not the released code's complete block of zeros), a projection shortcut (1×1 convolution with
batch norm) adds its weights as edges into the main branch's channels (type ``SHORTCUT``) and
its batch norm into those channels' second slot. Node features are
``[bias, γ, β, mean, var, shortcut γ, β, mean, var]`` (defaults ``0, 1, 0, 0, 1, 1, 0, 0, 1``).

:func:`graph_to_network` writes a graph of the same layout back into a copy of the network,
so that any graph with that topology (e.g. a metanetwork's edited output) decodes to a
network; the round trip is exact (tested). Supported: ``Conv2d`` (no groups), ``Linear``,
PyG's ``GCNConv`` (its weight matrix as a linear layer's edges: the propagation itself has
no weights, so a GNN maps like an MLP over its channels),
``BatchNorm1d/2d`` after them, channel-preserving layers (activations, pooling, dropout,
flatten after a global pooling) and additions of two branches. Anything else is a
:class:`UnsupportedLayer` error naming the layer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["NetGraph", "network_to_graph", "graph_to_network", "graph_parameters",
           "channel_groups",
           "UnsupportedLayer",
           "WEIGHT", "IDENTITY", "SHORTCUT", "NODE_DEFAULT"]

WEIGHT, IDENTITY, SHORTCUT = 0, 1, 2
NODE_DEFAULT = (0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0)
_PASS_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
                 nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                 nn.Dropout, nn.Identity, nn.Flatten)
_PASS_FUNCTIONS = {"relu", "relu_", "gelu", "silu", "tanh", "sigmoid", "max_pool2d",
                   "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "dropout",
                   "flatten", "mean", "view", "reshape", "leaky_relu", "contiguous", "size"}


class UnsupportedLayer(ValueError):
    r"""A layer the network-to-graph mapping cannot represent (the message names it)."""


@dataclass
class Layer:
    r"""Where one weight layer lives in the graph (for decoding)."""

    name: str            # module path
    kind: str            # "conv" or "linear"
    kernel: int          # k of a k x k kernel (1 for linear)
    edges: tuple[int, int]  # [start, end) of its edges (output-major, then input)
    out_nodes: list[int]    # its output channels' node ids, in channel order
    in_nodes: list[int]     # its input channels' node ids, in channel order
    edge_type: int = WEIGHT
    bn: str | None = None   # the batch norm that follows it
    bn_slot: int = 1        # 1: the node's own batch norm, 5: a shortcut's
    block: int = -1         # index of its edge block while building
    has_bias: bool = False
    weight: str = ""        # parameter paths (default ``<name>.weight`` / ``<name>.bias``)
    bias: str = ""

    def __post_init__(self) -> None:
        self.weight = self.weight or f"{self.name}.weight"
        self.bias = self.bias or f"{self.name}.bias"


@dataclass
class NetGraph:
    r"""A network as a graph (see the module docstring).

    Attributes:
        x (Tensor): ``[N, 9]`` node features.
        edge_index (Tensor): ``[2, E]`` (input channel → output channel).
        edge_attr (Tensor): ``[E, k*k]`` kernels.
        edge_type (Tensor): ``[E]`` ``WEIGHT``, ``IDENTITY`` or ``SHORTCUT``.
        layer_ptr (Tensor): ``[L + 1]`` node boundaries: input channels, then each layer's
            own output channels.
        layers (list[Layer]): how to decode.
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    edge_type: Tensor
    layer_ptr: Tensor
    layers: list[Layer] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return int(self.x.size(0))


_IGNORED_FUNCTIONS = {"_assert_is_none"}


class _Tracer(torch.fx.Tracer):
    r"""``torch.fx`` tracing that keeps PyG message-passing layers whole."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        from torch_geometric.nn import MessagePassing

        return isinstance(m, MessagePassing) or super().is_leaf_module(m, qualname)


def _is_gcn(mod: nn.Module) -> bool:
    from torch_geometric.nn import GCNConv

    return isinstance(mod, GCNConv)


def _target_name(node: torch.fx.Node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def network_to_graph(model: nn.Module, input_shape: tuple[int, ...],
                     concrete_args: dict[str, Any] | None = None) -> NetGraph:
    r"""The graph of ``model`` (see the module docstring).

    Args:
        model (nn.Module): the network (traceable by ``torch.fx``).
        input_shape (tuple): the shape of one input without the batch, e.g. ``(1, 28, 28)``
            or ``(784,)``: its first entry is the number of input channels (of the first
            input; a GNN's ``edge_index`` and other inputs carry no channels).
        concrete_args (dict, optional): inputs fixed while tracing (e.g. ``{"batch": None}``
            for a node classifier).

    Raises:
        UnsupportedLayer: a layer or operation the mapping does not represent.
    """
    try:
        gm = torch.fx.GraphModule(model, _Tracer().trace(model, concrete_args=concrete_args))
    except Exception as e:  # noqa: BLE001 - any tracing failure is reported the same way
        raise UnsupportedLayer(f"{type(model).__name__}: not traceable by torch.fx ({e})") from e
    modules = dict(gm.named_modules())
    convs = [m for m in modules.values() if isinstance(m, nn.Conv2d | nn.Linear)]
    first_input = True
    kmax = max([m.kernel_size[0] for m in convs if isinstance(m, nn.Conv2d)] + [1])
    k2 = kmax * kmax
    centre = k2 // 2
    feats: list[list[float]] = []
    src: list[Tensor] = []
    dst: list[Tensor] = []
    attrs: list[Tensor] = []
    types: list[Tensor] = []
    layers: list[Layer] = []
    ptr = [0]
    chan: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    owner: dict[str, int | None] = {}   # the layer whose outputs the tensor's channels are
    consumed: set[int | None] = set()   # layers whose outputs another layer reads
    n_edges = 0

    def new_nodes(n: int) -> list[int]:
        start = len(feats)
        feats.extend([list(NODE_DEFAULT) for _ in range(n)])
        ptr.append(len(feats))
        return list(range(start, start + n))

    def add_edges(ins: list[int], outs: list[int], w: Tensor, etype: int) -> tuple[int, int]:
        r"""Appends the complete bipartite block of a layer (output-major, then input)."""
        nonlocal n_edges
        co, ci = len(outs), len(ins)
        kern = w.detach().reshape(co, ci, -1)
        k = kern.size(-1)
        pad = torch.zeros(co, ci, k2, dtype=torch.float32)
        if k == k2:
            pad.copy_(kern)
        elif k == 1:
            pad[..., centre] = kern[..., 0]
        else:  # a smaller odd kernel, centred
            side, small = kmax, int(round(k ** 0.5))
            off = (side - small) // 2
            pad.view(co, ci, side, side)[..., off:off + small, off:off + small] = \
                kern.view(co, ci, small, small)
        o = torch.tensor(outs).repeat_interleave(ci)
        i = torch.tensor(ins).repeat(co)
        src.append(i)
        dst.append(o)
        attrs.append(pad.reshape(-1, k2))
        types.append(torch.full((co * ci,), etype, dtype=torch.long))
        start = n_edges
        n_edges += co * ci
        return start, n_edges

    for node in gm.graph.nodes:
        key = node.name
        if node.op == "placeholder":
            if first_input:  # the features; later inputs (edge_index, ...) carry no channels
                chan[key] = new_nodes(int(input_shape[0]))
                depth[key], owner[key] = 0, None
                first_input = False
            continue
        if node.op == "output":
            continue
        if node.op in ("get_attr",):
            raise UnsupportedLayer(f"{node.target}: parameters used outside a layer")
        args = [a for a in node.args if isinstance(a, torch.fx.Node) and a.name in chan]
        if node.op == "call_function" and _target_name(node) in _IGNORED_FUNCTIONS:
            continue
        if node.op == "call_module":
            mod = modules[node.target]
            name = str(node.target)
            if isinstance(mod, nn.Conv2d | nn.Linear) or _is_gcn(mod):
                if isinstance(mod, nn.Conv2d):
                    if mod.groups != 1:
                        raise UnsupportedLayer(f"{name}: grouped convolution (groups="
                                               f"{mod.groups}) is not supported")
                    if mod.kernel_size[0] != mod.kernel_size[1] or mod.kernel_size[0] % 2 == 0:
                        raise UnsupportedLayer(f"{name}: kernel {mod.kernel_size} is not "
                                               "square and odd")
                linear = isinstance(mod, nn.Linear)
                # a GCN layer's weights are its linear map's (the propagation has none)
                weight = mod.lin.weight if _is_gcn(mod) else mod.weight
                ins = chan[args[0].name]
                n_in = mod.in_features if linear else mod.in_channels
                if len(ins) != n_in:
                    hint = (" (a flatten of a spatial map without global pooling?)"
                            if linear else "")
                    raise UnsupportedLayer(f"{name}: reads {n_in} features from a tensor of "
                                           f"{len(ins)} channels{hint}")
                outs = new_nodes(mod.out_features if linear else mod.out_channels)
                block = len(src)
                span = add_edges(ins, outs, weight, WEIGHT)
                consumed.add(owner.get(args[0].name))
                if mod.bias is not None:
                    for j, b in zip(outs, mod.bias.detach().tolist(), strict=True):
                        feats[j][0] = b
                conv = isinstance(mod, nn.Conv2d)
                layers.append(Layer(name, "conv" if conv else "linear",
                                    mod.kernel_size[0] if conv else 1, span, outs, ins,
                                    block=block, has_bias=mod.bias is not None,
                                    weight=f"{name}.lin.weight" if _is_gcn(mod) else ""))
                chan[key], depth[key] = outs, depth[args[0].name] + 1
                owner[key] = len(layers) - 1
                continue
            if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
                lid = owner.get(args[0].name)
                if lid is None or layers[lid].bn is not None:
                    raise UnsupportedLayer(f"{name}: a batch norm must directly follow a "
                                           "convolution or linear layer")
                if not (mod.affine and mod.track_running_stats):
                    raise UnsupportedLayer(f"{name}: batch norm without affine parameters or "
                                           "running statistics")
                layers[lid].bn = name
                vals = torch.stack([mod.weight, mod.bias, mod.running_mean,
                                    mod.running_var]).detach().T.tolist()
                for j, v in zip(layers[lid].out_nodes, vals, strict=True):
                    feats[j][1:5] = v
                chan[key], depth[key], owner[key] = chan[args[0].name], depth[args[0].name], lid
                continue
            if isinstance(mod, _PASS_MODULES):
                chan[key], depth[key] = chan[args[0].name], depth[args[0].name]
                owner[key] = owner.get(args[0].name)
                continue
            raise UnsupportedLayer(f"{name}: {type(mod).__name__} layers are not supported")
        target = _target_name(node)
        if node.op in ("call_function", "call_method") and target in ("add", "iadd", "__add__"):
            if len(args) != 2:
                raise UnsupportedLayer(f"{node.name}: only the sum of two branches is supported")
            a, b = args
            if depth[a.name] == depth[b.name]:
                raise UnsupportedLayer(f"{node.name}: cannot tell the residual branch from the "
                                       "shortcut (equal depths)")
            main, short = (a, b) if depth[a.name] > depth[b.name] else (b, a)
            outs, ins = chan[main.name], chan[short.name]
            if len(outs) != len(ins):
                raise UnsupportedLayer(f"{node.name}: adds {len(outs)} and {len(ins)} channels")
            lid = owner.get(short.name)
            if lid is not None and lid not in consumed and layers[lid].out_nodes == ins:
                # a projection shortcut: a layer read by nothing but this addition
                _retarget(layers[lid], outs, feats, dst, types)
            else:  # identity: one edge per channel, a one-hot centre
                eye = torch.zeros(len(outs), 1, k2)
                eye[:, 0, centre] = 1.0
                src.append(torch.tensor(ins))
                dst.append(torch.tensor(outs))
                attrs.append(eye.reshape(-1, k2))
                types.append(torch.full((len(outs),), IDENTITY, dtype=torch.long))
                n_edges += len(outs)
            chan[key], depth[key], owner[key] = outs, depth[main.name], owner.get(main.name)
            continue
        if node.op in ("call_function", "call_method") and target in _PASS_FUNCTIONS:
            chan[key], depth[key] = chan[args[0].name], depth[args[0].name]
            owner[key] = owner.get(args[0].name)
            continue
        raise UnsupportedLayer(f"{node.name}: operation {target!r} is not supported")
    # a projection shortcut's own nodes were emptied by _retarget: drop them
    x = torch.tensor(feats, dtype=torch.float32)
    edge_index = torch.stack([torch.cat(src), torch.cat(dst)])
    keep = torch.zeros(x.size(0), dtype=torch.bool)
    keep[edge_index.reshape(-1)] = True
    keep[: ptr[1]] = True
    for layer in layers:
        keep[layer.out_nodes] = True
    remap = torch.cumsum(keep.long(), 0) - 1
    for layer in layers:
        layer.out_nodes = remap[layer.out_nodes].tolist()
        layer.in_nodes = remap[layer.in_nodes].tolist()
    bounds = sorted({int(remap[p - 1]) + 1 for p in ptr[1:] if keep[p - 1]} | {0})
    return NetGraph(x[keep], remap[edge_index], torch.cat(attrs), torch.cat(types),
                    torch.tensor(bounds), layers)


def _retarget(layer: Layer, outs: list[int], feats: list, dst: list, types: list) -> None:
    r"""Moves a projection shortcut's edges onto the main branch's channels, its batch norm
    into their shortcut slot (its own nodes are dropped at the end)."""
    for j_old, j_new in zip(layer.out_nodes, outs, strict=True):
        if feats[j_old][0] != 0.0:
            raise UnsupportedLayer(f"{layer.name}: a projection shortcut with a bias")
        feats[j_new][5:9] = feats[j_old][1:5]
        feats[j_old] = list(NODE_DEFAULT)
    co, ci = len(outs), len(layer.in_nodes)
    dst[layer.block] = torch.tensor(outs).repeat_interleave(ci)
    types[layer.block] = torch.full((co * ci,), SHORTCUT, dtype=torch.long)
    layer.out_nodes, layer.edge_type, layer.bn_slot = list(outs), SHORTCUT, 5


def channel_groups(graph: NetGraph) -> tuple[Tensor, Tensor, Tensor]:
    r"""The dependency groups of a network graph: ``(component, layer, prunable)``, for every
    node the channel group it belongs to (nodes joined by identity shortcuts are one group,
    as a residual addition couples them; ids are each group's smallest node), the layer whose
    groups it is compared with (the smallest producing layer of its group) and whether the
    group may be pruned (no input channel and no output unit in it)."""
    n = graph.num_nodes
    comp = torch.arange(n)
    ident = graph.edge_index[:, graph.edge_type == IDENTITY]
    while ident.numel():  # label propagation along identity edges until stable
        low = torch.minimum(comp[ident[0]], comp[ident[1]])
        new = comp.scatter_reduce(0, ident[0], low, "amin").scatter_reduce(0, ident[1], low,
                                                                          "amin")
        if torch.equal(new, comp):
            break
        comp = new
    big = len(graph.layers)
    layer = torch.full((n,), big, dtype=torch.long)
    for i, la in enumerate(graph.layers):
        if la.edge_type == WEIGHT:
            nodes = torch.tensor(la.out_nodes)
            layer[nodes] = torch.minimum(layer[nodes], torch.full_like(nodes, i))
    layer = torch.full((n,), big, dtype=torch.long).scatter_reduce(0, comp, layer, "amin")[comp]
    fixed = torch.zeros(n, dtype=torch.bool)
    fixed[: int(graph.layer_ptr[1])] = True
    weights = [la for la in graph.layers if la.edge_type == WEIGHT]
    fixed[torch.tensor(weights[-1].out_nodes)] = True
    fixed = torch.zeros(n, dtype=torch.bool).scatter_reduce(0, comp, fixed, "amax")[comp]
    return comp, layer, ~fixed & (layer < big)


def graph_parameters(graph: NetGraph, x: Tensor | None = None,
                     edge_attr: Tensor | None = None) -> dict[str, Tensor]:
    r"""The network's parameters and batch-norm statistics held by a graph, by module path
    (``"features.0.weight"``, ``"features.1.running_var"`` ...), as differentiable functions
    of the node and edge features (``x`` / ``edge_attr`` replace the graph's own, e.g. a
    metanetwork's output): ``torch.func.functional_call(model, params, input)`` then runs the
    decoded network with gradients reaching the features (all but the batch-norm running
    statistics, which are detached). Values in a padded kernel's border are ignored; running
    variances are floored at 1e-5."""
    x = graph.x if x is None else x
    edge_attr = graph.edge_attr if edge_attr is None else edge_attr
    k2 = edge_attr.size(1)
    kmax = int(round(k2 ** 0.5))
    centre = k2 // 2
    out: dict[str, Tensor] = {}
    for layer in graph.layers:
        start, end = layer.edges
        co, ci = len(layer.out_nodes), len(layer.in_nodes)
        kern = edge_attr[start:end].reshape(co, ci, k2)
        if layer.kind == "linear":
            w = kern[..., centre]
        elif layer.kernel == kmax:
            w = kern.reshape(co, ci, kmax, kmax)
        else:
            off = (kmax - layer.kernel) // 2
            w = kern.reshape(co, ci, kmax, kmax)[..., off:off + layer.kernel,
                                                 off:off + layer.kernel]
        out[layer.weight] = w
        feats = x[layer.out_nodes]
        if layer.has_bias:
            out[layer.bias] = feats[:, 0]
        if layer.bn is not None:
            s = layer.bn_slot
            out[f"{layer.bn}.weight"] = feats[:, s]
            out[f"{layer.bn}.bias"] = feats[:, s + 1]
            # statistics, not parameters: detached (batch norm's kernel takes no gradient
            # through them)
            out[f"{layer.bn}.running_mean"] = feats[:, s + 2].detach()
            out[f"{layer.bn}.running_var"] = feats[:, s + 3].detach().clamp(min=1e-5)
    return out


def graph_to_network(graph: NetGraph, model: nn.Module) -> nn.Module:
    r"""A copy of ``model`` holding the weights of ``graph`` (same layout as
    ``network_to_graph(model, ...)``; see :func:`graph_parameters`)."""
    out = copy.deepcopy(model)
    state = out.state_dict()
    with torch.no_grad():
        for name, value in graph_parameters(graph).items():
            state[name].copy_(value.reshape(state[name].shape))
    return out
