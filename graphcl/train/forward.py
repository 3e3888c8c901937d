r"""Layer-local training of GNNs (ForwardGNN, Park et al., ICLR 2024) as engine experiences.

Greedy variants train one layer per experience (:class:`LayerTask`): the engine's
:meth:`~graphcl.train.Engine.fit_stream` runs layer :math:`l` to its own early stop on the
validation metric, restores its best state, then moves on; a layer reads the *detached* output
of the layer below, so its local loss reaches its own parameters only. The engine's default
update step is the layer-local one: with gradients set to ``None`` between steps, one Adam
over all layers steps exactly the layer that has gradients, as the authors' per-layer Adams
do (a frozen layer's parameters, moments and step counts are untouched), and every plugin
sees every step. Outputs of frozen layers are cached, keyed on their parameters' versions.

Problems (one per variant; :func:`make_problem`):

* ``sf`` (single forward): the graph plus one virtual node per class, each training node wired
  both ways to its class's node; layer loss = cross-entropy of
  :math:`\langle z_v, z_{N+c}\rangle / \tau` over classes on the training nodes; prediction =
  :math:`\arg\max_c \sum_{l} \mathrm{softmax}_c`, a probability ensemble over layers;
* ``ff-la`` (forward-forward, label appending): input :math:`[x \| \text{one-hot}]` (uniform
  :math:`1/C` off the training nodes); :math:`K = \min(\text{num\_negs}, C-1)` negative copies
  give each training node its :math:`k`-th wrong class; goodness :math:`\sum_k h_k^2 - \theta`,
  BCE positives to 1, negatives to 0 (negatives averaged over copies); each copy propagates on
  its own; prediction: one pass per hypothesised class, known labels (train; train and
  validation at test) wired in, the sum of goodness over layers;
* ``ff-vn`` (forward-forward, virtual nodes): positive graph = training nodes wired to their
  class's node, negative graphs = wired to a wrong class; the positive graph's output is every
  graph's next input; prediction as ``ff-la`` with wiring in place of appended labels;
* ``link-ce`` / ``link-ff`` (link prediction): per layer, BCE of
  :math:`\langle z_u, z_v\rangle` (or :math:`\lVert z_u \odot z_v\rVert^2 - \theta`) on the
  split's fixed training pairs; score = mean over layers of :math:`\sigma(s_l)`, on the
  validation (training edges) or test (training + validation edges) graph;
* ``bp``: the same layers trained end to end (:class:`BPNodeTask`, :class:`BPLinkTask`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.evaluate import metrics as M
from graphcl.models.forwardgnn import (
    ForwardGNN,
    GraphOps,
    LayerStack,
    NodeInput,
    row_normalize,
    sparse_block,
)
from graphcl.train.plugins import Plugin

__all__ = ["NODE_VARIANTS", "LINK_VARIANTS", "LayerTask", "BPNodeTask", "BPLinkTask",
           "make_problem", "SFProblem", "FFLabelProblem", "FFVirtualProblem", "LinkProblem",
           "TopDownTask", "TopDownNode", "TopDownLink", "LayerGradClip"]

NODE_VARIANTS = ("sf", "ff-la", "ff-vn", "sf-top2input", "sf-top2loss", "bp")
LINK_VARIANTS = ("link-ce", "link-ff", "ce-top2input", "bp")


def _versions(stack: LayerStack, upto: int) -> tuple:
    r"""Identity and in-place version of every parameter of layers ``0..upto-1``."""
    return tuple((id(p), p._version) for layer in stack.layers[:upto]
                 for p in layer.parameters())


def _goodness(h: Tensor, theta: float, mean: bool = False) -> Tensor:
    g = (h * h).mean(-1) if mean else (h * h).sum(-1)
    return g - theta


class _Problem:
    r"""Shared machinery: a cache of the frozen layers' outputs per named pass."""

    metric = "acc"

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, tuple, Any]] = {}

    def walk(self, model: ForwardGNN, tag: str, upto: int, start: Callable[[], Any],
             step: Callable[[int, Any], Any]) -> Any:
        r"""The state of pass ``tag`` before layer ``upto`` (``start()`` then ``step(l,
        state)`` for ``l < upto``), cached on the versions of layers ``< upto``."""
        key = _versions(model.stack, upto)
        hit = self._cache.get(tag)
        if hit is not None and hit[0] == upto and hit[1] == key:
            return hit[2]
        state = start()
        for layer in range(upto):
            state = step(layer, state)
        self._cache[tag] = (upto, key, state)
        return state

    def clear(self) -> None:
        self._cache.clear()


class SFProblem(_Problem):
    r"""Single-forward node classification (see the module docstring)."""

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, masks: dict[str, Tensor],
                 num_classes: int, *, temperature: float = 1.0) -> None:
        super().__init__()
        n, c = y.numel(), num_classes
        self.n, self.c, self.y, self.masks, self.tau = n, c, y, masks, float(temperature)
        tr = masks["train"].nonzero().view(-1)
        virt = n + y[tr]
        ei = torch.cat([edge_index, torch.stack([tr, virt]), torch.stack([virt, tr])], 1)
        self.graph = GraphOps(ei, n + c)
        self.x = x

    def _input0(self, model: ForwardGNN) -> NodeInput:
        return NodeInput(torch.cat([self.x.to_sparse() if not self.x.is_sparse else self.x,
                                    model.virtual_x.to_sparse()], 0))

    def _logits(self, z: Tensor, nodes: Tensor) -> Tensor:
        return z[nodes] @ z[self.n:].t() / self.tau

    def _state(self, model: ForwardGNN, upto: int) -> tuple[NodeInput, Tensor]:
        def start() -> tuple[NodeInput, Tensor]:
            return self._input0(model), torch.zeros(self.n, self.c)

        def step(layer: int, state: tuple[NodeInput, Tensor]) -> tuple[NodeInput, Tensor]:
            with torch.no_grad():
                z = model.stack[layer](state[0], self.graph)
                probs = state[1] + self._logits(z, torch.arange(self.n)).softmax(-1)
            return NodeInput(z), probs

        return self.walk(model, "sf", upto, start, step)

    def loss(self, model: ForwardGNN, layer: int) -> Tensor:
        inp, _ = self._state(model, layer)
        z = model.stack[layer](inp, self.graph)
        tr = self.masks["train"]
        return F.cross_entropy(self._logits(z, tr.nonzero().view(-1)), self.y[tr])

    @torch.no_grad()
    def evaluate(self, model: ForwardGNN, layer: int, split: str) -> dict[str, float]:
        inp, probs = self._state(model, layer)
        z = model.stack[layer](inp, self.graph)
        probs = probs + self._logits(z, torch.arange(self.n)).softmax(-1)
        mask = self.masks[split]
        return {"acc": M.accuracy(self.y[mask], probs[mask].argmax(-1))}


class _FFProblem(_Problem):
    def __init__(self, y: Tensor, masks: dict[str, Tensor], num_classes: int, *,
                 theta: float = 2.0, num_negs: int = 100) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"forward-forward variants need at least 2 classes, got "
                             f"{num_classes}")
        self.n, self.c, self.y, self.masks = y.numel(), num_classes, y, masks
        self.theta, self.k = float(theta), min(int(num_negs), num_classes - 1)
        if self.k < 1:
            raise ValueError(f"num_negs must be >= 1, got {num_negs}")
        self.train_idx = masks["train"].nonzero().view(-1)

    def ff_loss(self, pos: Tensor, negs: list[Tensor]) -> Tensor:
        t = self.train_idx
        gp = _goodness(pos[t], self.theta)
        loss = F.binary_cross_entropy_with_logits(gp, torch.ones_like(gp))
        neg = torch.stack([F.binary_cross_entropy_with_logits(
            _goodness(z[t], self.theta), torch.zeros(t.numel())) for z in negs]).mean()
        return loss + neg

    def known(self, split: str) -> Tensor:
        r"""Nodes whose true label is an input when ``split`` is predicted (train; train and
        validation at test, as the authors' code)."""
        return self.masks["train"] | (self.masks["valid"] if split == "test" else False)

    @torch.no_grad()
    def evaluate(self, model: ForwardGNN, layer: int, split: str) -> dict[str, float]:
        scores = torch.stack([self.class_score(model, layer, split, c)
                              for c in range(self.c)], -1)
        mask = self.masks[split]
        return {"acc": M.accuracy(self.y[mask], scores[mask].argmax(-1))}


class FFLabelProblem(_FFProblem):
    r"""Forward-forward with label appending (see the module docstring)."""

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, masks: dict[str, Tensor],
                 num_classes: int, **kw: Any) -> None:
        super().__init__(y, masks, num_classes, **kw)
        self.x = sparse_block(x.to_sparse() if not x.is_sparse else x)  # shared by every copy
        self.graph = GraphOps(edge_index, self.n)

    def _labels(self, rows: Tensor, classes: Tensor) -> Tensor:
        lab = torch.full((self.n, self.c), 1.0 / self.c)
        lab[rows] = F.one_hot(classes, self.c).float()
        return lab

    def _train_inputs(self, model: ForwardGNN, upto: int) -> list[NodeInput]:
        t = self.train_idx

        def start() -> list[NodeInput]:
            labs = [self._labels(t, self.y[t])]
            labs += [self._labels(t, model.wrong[t, k]) for k in range(self.k)]
            return [NodeInput(self.x, lab) for lab in labs]

        def step(layer: int, inputs: list[NodeInput]) -> list[NodeInput]:
            with torch.no_grad():
                return [NodeInput(z) for z in model.stack[layer].forward_many(inputs,
                                                                             self.graph)]

        return self.walk(model, "train", upto, start, step)

    def loss(self, model: ForwardGNN, layer: int) -> Tensor:
        inputs = self._train_inputs(model, layer)
        zs = model.stack[layer].forward_many(inputs, self.graph)
        return self.ff_loss(zs[0], zs[1:])

    def class_score(self, model: ForwardGNN, layer: int, split: str, c: int) -> Tensor:
        known, target = self.known(split), self.masks[split]

        def start() -> tuple[NodeInput, Tensor]:
            lab = self._labels(known.nonzero().view(-1), self.y[known])
            lab[target] = F.one_hot(torch.tensor(c), self.c).float()
            return NodeInput(self.x, lab), torch.zeros(self.n)

        def step(layer_: int, state: tuple[NodeInput, Tensor]) -> tuple[NodeInput, Tensor]:
            z = model.stack[layer_](state[0], self.graph)
            return NodeInput(z), state[1] + _goodness(z, self.theta, mean=True)

        inp, score = self.walk(model, f"{split}:{c}", layer, start, step)
        z = model.stack[layer](inp, self.graph)
        return score + _goodness(z, self.theta, mean=True)


class FFVirtualProblem(_FFProblem):
    r"""Forward-forward with class virtual nodes (see the module docstring)."""

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, masks: dict[str, Tensor],
                 num_classes: int, **kw: Any) -> None:
        super().__init__(y, masks, num_classes, **kw)
        self.x = x.to_sparse() if not x.is_sparse else x
        self.edge_index = edge_index
        self._graphs: dict[Any, GraphOps] = {}

    def _wired(self, key: Any, nodes: Tensor, classes: Tensor) -> GraphOps:
        if key not in self._graphs:
            v = self.n + classes
            ei = torch.cat([self.edge_index, torch.stack([nodes, v]), torch.stack([v, nodes])], 1)
            self._graphs[key] = GraphOps(ei, self.n + self.c)
        return self._graphs[key]

    def _input0(self, model: ForwardGNN) -> NodeInput:
        return NodeInput(torch.cat([self.x, model.virtual_x.to_sparse()], 0))

    def _negative_graph(self, model: ForwardGNN, k: int) -> GraphOps:
        t = self.train_idx
        return self._wired(("neg", k, id(model.wrong), model.wrong._version), t,
                           model.wrong[t, k])

    def _train_input(self, model: ForwardGNN, upto: int) -> NodeInput:
        t = self.train_idx
        pos = self._wired("pos", t, self.y[t])

        def step(layer: int, inp: NodeInput) -> NodeInput:
            with torch.no_grad():
                return NodeInput(model.stack[layer](inp, pos))

        return self.walk(model, "train", upto, lambda: self._input0(model), step)

    def loss(self, model: ForwardGNN, layer: int) -> Tensor:
        inp = self._train_input(model, layer)
        t = self.train_idx
        graphs = [self._wired("pos", t, self.y[t])]
        graphs += [self._negative_graph(model, k) for k in range(self.k)]
        zs = model.stack[layer].forward_graphs(inp, graphs)
        return self.ff_loss(zs[0][:self.n], [z[:self.n] for z in zs[1:]])

    def class_score(self, model: ForwardGNN, layer: int, split: str, c: int) -> Tensor:
        known, target = self.known(split), self.masks[split]
        nodes = torch.cat([known.nonzero().view(-1), target.nonzero().view(-1)])
        classes = torch.cat([self.y[known], torch.full((int(target.sum()),), c)])
        graph = self._wired((split, c), nodes, classes)

        def step(layer_: int, state: tuple[NodeInput, Tensor]) -> tuple[NodeInput, Tensor]:
            z = model.stack[layer_](state[0], graph)
            return NodeInput(z), state[1] + _goodness(z[:self.n], self.theta, mean=True)

        inp, score = self.walk(model, f"{split}:{c}", layer,
                               lambda: (self._input0(model), torch.zeros(self.n)), step)
        z = model.stack[layer](inp, graph)
        return score + _goodness(z[:self.n], self.theta, mean=True)


class LinkProblem(_Problem):
    r"""Layer-local link prediction (``link-ce`` / ``link-ff``, see the module docstring).

    Args:
        x (Tensor): Node features.
        graphs (dict): ``{"train", "valid", "test"}`` message-passing ``edge_index``.
        pairs (dict): ``{split: (edge_label_index [2, P], edge_label [P])}``.
        kind (str): ``"ce"`` or ``"ff"``.
    """

    metric = "auc"

    def __init__(self, x: Tensor, graphs: dict[str, Tensor], pairs: dict[str, tuple],
                 num_nodes: int, kind: str = "ce", *, theta: float = 2.0) -> None:
        super().__init__()
        if kind not in ("ce", "ff"):
            raise ValueError(f"LinkProblem: kind must be 'ce' or 'ff', got {kind!r}")
        self.kind, self.theta, self.n = kind, float(theta), int(num_nodes)
        self.x = x.to_sparse() if not x.is_sparse else x
        self.graphs = {k: GraphOps(v, self.n) for k, v in graphs.items()}
        self.pairs = pairs

    def score(self, z: Tensor, pairs: Tensor) -> Tensor:
        prod = z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])  # backward: index_add
        return prod.sum(-1) if self.kind == "ce" else (prod * prod).sum(-1) - self.theta

    def _state(self, model: ForwardGNN, split: str, upto: int) -> tuple[NodeInput, Tensor]:
        graph, pairs = self.graphs[split], self.pairs[split][0]

        def step(layer: int, state: tuple[NodeInput, Tensor]) -> tuple[NodeInput, Tensor]:
            with torch.no_grad():
                z = model.stack[layer](state[0], graph)
                s = torch.sigmoid(torch.nan_to_num(self.score(z, pairs)))
            return NodeInput(z), state[1] + s

        return self.walk(model, split, upto,
                         lambda: (NodeInput(self.x), torch.zeros(pairs.size(1))), step)

    def loss(self, model: ForwardGNN, layer: int) -> Tensor:
        inp, _ = self._state(model, "train", layer)
        z = model.stack[layer](inp, self.graphs["train"])
        pairs, label = self.pairs["train"]
        s = self.score(z, pairs)
        if self.kind == "ce":
            return F.binary_cross_entropy_with_logits(s, label.float())
        pos, neg = label > 0, label <= 0
        return (F.binary_cross_entropy_with_logits(s[pos], torch.ones(int(pos.sum())))
                + F.binary_cross_entropy_with_logits(s[neg], torch.zeros(int(neg.sum()))))

    @torch.no_grad()
    def evaluate(self, model: ForwardGNN, layer: int, split: str) -> dict[str, float]:
        inp, acc = self._state(model, split, layer)
        pairs, label = self.pairs[split]
        z = model.stack[layer](inp, self.graphs[split])
        s = (acc + torch.sigmoid(torch.nan_to_num(self.score(z, pairs)))) / (layer + 1)
        return {"auc": M.roc_auc(label, s), "ap": M.average_precision(label, s)}


class LayerTask:
    r"""Experience ``layer`` of greedy layer-wise training: one full-batch step per epoch of
    the problem's local loss for that layer. ``evaluate`` predicts with layers ``0..layer``."""

    def __init__(self, problem: Any, layer: int) -> None:
        self.problem, self.layer = problem, int(layer)
        self.num_train_examples = 1

    def train_batches(self, strategy: Any):
        yield self.layer

    def training_loss(self, strategy: Any, batch: int) -> Tensor:
        return self.problem.loss(strategy.model, self.layer)

    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        return self.problem.evaluate(strategy.model, self.layer, split)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer={self.layer}, {type(self.problem).__name__})"


class BPNodeTask:
    r"""The back-propagation baseline for node classification: the stack end to end on the
    graph (cross-entropy on the training nodes)."""

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor,
                 masks: dict[str, Tensor]) -> None:
        self.input = NodeInput(x.to_sparse() if not x.is_sparse else x, normalize=False)
        self.graph, self.y, self.masks = GraphOps(edge_index, y.numel()), y, masks
        self.num_train_examples = 1

    def train_batches(self, strategy: Any):
        yield None

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        out = strategy.model.stack(self.input, self.graph)
        tr = self.masks["train"]
        return F.cross_entropy(out[tr], self.y[tr])

    @torch.no_grad()
    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        mask = self.masks[split]
        out = strategy.model.stack(self.input, self.graph)
        return {"acc": M.accuracy(self.y[mask], out[mask].argmax(-1))}


class BPLinkTask:
    r"""The back-propagation baseline for link prediction: the stack end to end, dot-product
    decoder, BCE on the split's fixed training pairs."""

    def __init__(self, x: Tensor, graphs: dict[str, Tensor], pairs: dict[str, tuple],
                 num_nodes: int) -> None:
        self.input = NodeInput(x.to_sparse() if not x.is_sparse else x, normalize=False)
        self.graphs = {k: GraphOps(v, num_nodes) for k, v in graphs.items()}
        self.pairs = pairs
        self.num_train_examples = 1

    def train_batches(self, strategy: Any):
        yield None

    def _score(self, strategy: Any, split: str) -> tuple[Tensor, Tensor]:
        z = strategy.model.stack(self.input, self.graphs[split])
        pairs, label = self.pairs[split]
        return (z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])).sum(-1), label

    def training_loss(self, strategy: Any, batch: Any) -> Tensor:
        s, label = self._score(strategy, "train")
        return F.binary_cross_entropy_with_logits(s, label.float())

    @torch.no_grad()
    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        s, label = self._score(strategy, split)
        s = torch.sigmoid(s)
        return {"auc": M.roc_auc(label, s), "ap": M.average_precision(label, s)}


def make_problem(variant: str, x: Tensor, edge_index: Tensor, y: Tensor,
                 masks: dict[str, Tensor], num_classes: int, **kw: Any) -> _Problem:
    r"""The node-classification problem of a greedy ``variant`` (``sf``, ``ff-la``,
    ``ff-vn``); ``kw``: ``temperature`` (SF) or ``theta``, ``num_negs`` (FF)."""
    if variant == "sf":
        return SFProblem(x, edge_index, y, masks, num_classes,
                         temperature=kw.get("temperature", 1.0))
    cls = {"ff-la": FFLabelProblem, "ff-vn": FFVirtualProblem}.get(variant)
    if cls is None:
        raise ValueError(f"unknown node variant {variant!r}; choose from {list(NODE_VARIANTS)}")
    return cls(x, edge_index, y, masks, num_classes, theta=kw.get("theta", 2.0),
               num_negs=kw.get("num_negs", 100))


class LayerGradClip(Plugin):
    r"""Clips each layer's gradient norm on its own before the optimiser step (SF-Top-To-Loss
    clips every layer's local update at 1.0)."""

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = float(max_norm)

    def before_update(self, strategy: Any, **kwargs: Any) -> None:
        for layer in strategy.model.stack.layers:
            params = [p for p in layer.parameters() if p.grad is not None]
            if params:
                torch.nn.utils.clip_grad_norm_(params, self.max_norm)


class TopDownTask:
    r"""The top-down variants: every layer updates at every *time step* (one engine epoch)
    from its neighbours' latest outputs (*states*), each on its own detached input.

    ``mode="input"`` (SF-Top-To-Input; link prediction's CE-Top-To-Input): layer :math:`l`
    reads :math:`[\mathrm{norm}(S_{l-1}) \| \mathrm{norm}(S_{l+1})]`, with :math:`S_0` the
    input features and :math:`S_{L+1}` the label matrix (node classification; none for
    links). With ``alternating=True`` a time step is two updates: the layers of even 0-based
    index from the last step's states, then the odd ones reading the even layers' fresh
    outputs. Prediction: a bottom-up pass (zeros in the top-down slots), then ``test_steps``
    sweeps without learning; the per-layer scores of the sweeps in ``stored_steps`` are summed.

    ``mode="loss"`` (SF-Top-To-Loss): layer :math:`l` reads :math:`S_{l-1}` (normalised, from
    the last step) and its loss scores :math:`E_l = \mathrm{mean}(Z_l, S_{l+1}, \dots, S_L)`;
    all layers update from the last step's states. Prediction: one bottom-up pass, the sum over
    layers of the scores of :math:`E_l`.

    The training states are task state (checkpointed); a step's gradients reach each layer
    from its own loss only.

    Args:
        problem: a :class:`TopDownNode` or :class:`TopDownLink` (inputs, graphs, losses, scores).
        num_layers (int): Layers.
        mode (str): ``"input"`` or ``"loss"``.
        alternating (bool, optional): Red-black updates (``mode="input"``). (default: ``True``)
        test_steps (int, optional): Sweeps at prediction. (default: ``10``)
        stored_steps (tuple, optional): Sweeps whose scores are summed (0-based).
            (default: ``2..9``)
    """

    def __init__(self, problem: Any, num_layers: int, mode: str, *, alternating: bool = True,
                 test_steps: int = 10, stored_steps: tuple[int, ...] = tuple(range(2, 10))
                 ) -> None:
        if mode not in ("input", "loss"):
            raise ValueError(f"TopDownTask: mode must be 'input' or 'loss', got {mode!r}")
        self.problem, self.L, self.mode = problem, int(num_layers), mode
        self.alternating = bool(alternating) and mode == "input"
        self.test_steps, self.stored = int(test_steps), set(stored_steps)
        self.states: list[Tensor] | None = None
        self._fresh: dict[int, Tensor] = {}
        self.num_train_examples = 1

    # -- states ------------------------------------------------------------------------------
    def _input(self, li: int, states: list[Tensor | None], split: str, *,
               zero_top: bool = False) -> NodeInput:
        p = self.problem
        below = p.base(split) if li == 0 else states[li - 1]
        if self.mode == "loss":
            return NodeInput(below)
        blocks = [below]
        if li < self.L - 1:
            above = states[li + 1]
            blocks.append(torch.zeros(p.num_rows(split), p.hidden) if zero_top or above is None
                          else above)
        elif p.top_dim:
            top = p.top(split)
            blocks.append(torch.zeros_like(top) if zero_top else top)
        return NodeInput(*blocks, normalize="block")

    def _bottom_up(self, model: ForwardGNN, split: str) -> list[Tensor]:
        states: list[Tensor | None] = [None] * self.L
        graph = self.problem.graph(split)
        for li in range(self.L):
            states[li] = model.stack[li](self._input(li, states, split, zero_top=True),
                                       graph).detach()
        return states  # type: ignore[return-value]

    def _phases(self) -> list[list[int]]:
        if self.mode == "loss" or not self.alternating:
            return [list(range(self.L))]
        return [list(range(0, self.L, 2))] + ([list(range(1, self.L, 2))] if self.L > 1 else [])

    # -- the engine task -----------------------------------------------------------------------
    def on_epoch_start(self, strategy: Any) -> None:
        if self.states is None:
            with torch.no_grad():
                self.states = self._bottom_up(strategy.model, "train")

    def train_batches(self, strategy: Any):
        yield from self._phases()

    def training_loss(self, strategy: Any, layers: list[int]) -> Tensor:
        model, p, states = strategy.model, self.problem, self.states
        graph = p.graph("train")
        loss = torch.zeros(())
        for li in layers:
            z = model.stack[li](self._input(li, states, "train"), graph)
            self._fresh[li] = z.detach()
            e = z if self.mode == "input" else torch.stack(
                [z] + [row_normalize(states[k]) for k in range(li + 1, self.L)]).mean(0)
            loss = loss + p.loss(e)
        return loss

    def after_update(self, strategy: Any, batch: Any) -> None:
        for li, z in self._fresh.items():
            self.states[li] = z
        self._fresh = {}

    @torch.no_grad()
    def evaluate(self, strategy: Any, split: str) -> dict[str, float]:
        model, p = strategy.model, self.problem
        graph = p.graph(split)
        states = self._bottom_up(model, split)
        total = None
        if self.mode == "loss":
            for li in range(self.L):
                e = torch.stack([states[li]] + [row_normalize(states[k])
                                               for k in range(li + 1, self.L)]).mean(0)
                s = p.score(e, split)
                total = s if total is None else total + s
            return p.metrics(total, split)
        for step in range(self.test_steps):
            for layers in self._phases():
                new = {li: model.stack[li](self._input(li, states, split), graph) for li in layers}
                for li, z in new.items():
                    states[li] = z
            if step in self.stored:
                for li in range(self.L):
                    s = p.score(states[li], split)
                    total = s if total is None else total + s
        return p.metrics(total, split)

    def state_dict(self) -> dict[str, Any]:
        return {"states": None if self.states is None else [s.clone() for s in self.states]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.states = state["states"]


class TopDownNode:
    r"""Node classification for :class:`TopDownTask`: the single-forward objective against
    class virtual nodes (training nodes wired both ways), the label matrix as the top state."""

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, masks: dict[str, Tensor],
                 num_classes: int, virtual_x: Tensor, hidden: int, *,
                 temperature: float = 1.0) -> None:
        self.sf = SFProblem(x, edge_index, y, masks, num_classes, temperature=temperature)
        n, c = y.numel(), num_classes
        self.n, self.c, self.hidden, self.top_dim = n, c, hidden, c
        xs = x.to_sparse() if not x.is_sparse else x
        self._base = sparse_block(torch.cat([xs, virtual_x.to_sparse()], 0))
        lab = torch.full((n + c, c), 1.0 / c)
        tr = masks["train"].nonzero().view(-1)
        lab[tr] = F.one_hot(y[tr], c).float()
        lab[n:] = torch.eye(c)
        self._top = lab

    def base(self, split: str) -> Any:
        return self._base

    def top(self, split: str) -> Tensor:
        return self._top

    def graph(self, split: str) -> GraphOps:
        return self.sf.graph

    def num_rows(self, split: str) -> int:
        return self.n + self.c

    def loss(self, z: Tensor) -> Tensor:
        tr = self.sf.masks["train"]
        return F.cross_entropy(self.sf._logits(z, tr.nonzero().view(-1)), self.sf.y[tr])

    def score(self, z: Tensor, split: str) -> Tensor:
        return self.sf._logits(z, torch.arange(self.n)).softmax(-1)

    def metrics(self, total: Tensor, split: str) -> dict[str, float]:
        mask = self.sf.masks[split]
        return {"acc": M.accuracy(self.sf.y[mask], total[mask].argmax(-1))}


class TopDownLink:
    r"""Link prediction for :class:`TopDownTask` (CE-Top-To-Input): per-layer BCE of the
    endpoint dot product on the fixed training pairs, no top state; scores are
    :math:`\sigma(s)`, averaged over layers and stored sweeps."""

    def __init__(self, x: Tensor, graphs: dict[str, Tensor], pairs: dict[str, tuple],
                 num_nodes: int, hidden: int) -> None:
        self.lp = LinkProblem(x, graphs, pairs, num_nodes, "ce")
        self.n, self.hidden, self.top_dim = int(num_nodes), hidden, 0
        self._base = sparse_block(self.lp.x)

    def base(self, split: str) -> Any:
        return self._base

    def top(self, split: str) -> None:
        return None

    def graph(self, split: str) -> GraphOps:
        return self.lp.graphs[split]

    def num_rows(self, split: str) -> int:
        return self.n

    def loss(self, z: Tensor) -> Tensor:
        pairs, label = self.lp.pairs["train"]
        return F.binary_cross_entropy_with_logits(self.lp.score(z, pairs), label.float())

    def score(self, z: Tensor, split: str) -> Tensor:
        return torch.sigmoid(torch.nan_to_num(self.lp.score(z, self.lp.pairs[split][0])))

    def metrics(self, total: Tensor, split: str) -> dict[str, float]:
        label = self.lp.pairs[split][1]
        return {"auc": M.roc_auc(label, total), "ap": M.average_precision(label, total)}
