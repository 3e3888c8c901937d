r"""Task-conditioned hypernetwork (von Oswald et al., ICLR 2020) with data-free task
unlearning (UnCLe: Adhikari et al., 2025), as an engine plugin.

A chunked hypernetwork generates every parameter of the model from a learnt task embedding
:math:`e_t`: chunk :math:`k` of the flat weight vector is :math:`h([e_t, c_k])` with learnt chunk
embeddings :math:`c_k` and an MLP :math:`h`, each parameter scaled by
:math:`1/\sqrt{\text{fan-in}}`. The model's own parameters are not used. While task :math:`t`
trains, the outputs for earlier embeddings are held where they were:

.. math::
    \mathcal{L} = \mathcal{L}_t + \frac{\beta}{|P|} \sum_{j \in P}
    \lVert h(e_j) - h^{*}_j \rVert^2,

where :math:`P` are the learnt, not unlearnt, tasks and :math:`h^{*}_j` the output stored when
task :math:`j` finished. **Unlearning** task :math:`u` needs no data: its output is pulled
towards Gaussian noise while the others are held,

.. math::
    \mathcal{L}_{\text{unlearn}} = \gamma \lVert h(e_u) - \varepsilon \rVert^2 +
    \frac{\beta}{|P|} \sum_{j \in P \setminus \{u\}} \lVert h(e_j) - h^{*}_j \rVert^2,
    \quad \varepsilon \sim \mathcal{N}(0, \sigma^2 I),

and :math:`u` leaves :math:`P`, so nothing pulls it back later. Needs the task identity
(task-incremental streams).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from graphcl.lifelong import register_plugin
from graphcl.lifelong.supermask import _task_label
from graphcl.lifelong.weights import ParameterOverride, parameter_names
from graphcl.train.plugins import Plugin

__all__ = ["ChunkedHypernetwork", "HypernetworkPlugin"]


class ChunkedHypernetwork(torch.nn.Module):
    r"""Generates a flat vector of ``num_outputs`` values from a task embedding, in chunks.

    Args:
        num_outputs (int): values to generate.
        embedding_dim (int, optional): task and chunk embedding size. (default: ``32``)
        hidden (int, optional): width of the two hidden layers. (default: ``100``)
        chunk_size (int, optional): values per chunk. (default: ``4096``)
    """

    def __init__(self, num_outputs: int, embedding_dim: int = 32, hidden: int = 100,
                 chunk_size: int = 4096) -> None:
        super().__init__()
        self.num_outputs, self.chunk_size = int(num_outputs), int(chunk_size)
        self.num_chunks = -(-self.num_outputs // self.chunk_size)
        self.chunk_emb = torch.nn.Parameter(torch.randn(self.num_chunks, embedding_dim))
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * embedding_dim, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, self.chunk_size))

    def forward(self, task_emb: Tensor) -> Tensor:
        inp = torch.cat([task_emb.expand(self.num_chunks, -1), self.chunk_emb], 1)
        return self.mlp(inp).flatten()[: self.num_outputs]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(outputs={self.num_outputs}, chunks={self.num_chunks}"
                f"x{self.chunk_size})")


@register_plugin("hypernetwork")
class HypernetworkPlugin(Plugin):
    r"""Every model parameter generated per task by a hypernetwork; data-free unlearning.

    Args:
        beta (float, optional): weight :math:`\beta` of the output regulariser.
            (default: ``0.01``)
        lr (float, optional): Adam learning rate of the hypernetwork and the task embedding.
            (default: ``0.001``)
        embedding_dim (int, optional): (default: ``32``)
        hidden (int, optional): (default: ``100``)
        chunk_size (int, optional): (default: ``4096``)
        noise_std (float, optional): :math:`\sigma` of the unlearning target. (default: ``1.0``)
        unlearn_weight (float, optional): weight :math:`\gamma` of the noise term
            (default: ``beta``: the forgotten task weighs as much as the held ones).
        seed (int, optional): seed of the hypernetwork's initialisation. (default: ``0``)
    """

    trains_parameters = True

    def __init__(self, beta: float = 0.01, lr: float = 0.001, embedding_dim: int = 32,
                 hidden: int = 100, chunk_size: int = 4096, noise_std: float = 1.0,
                 unlearn_weight: float | None = None, seed: int = 0) -> None:
        if float(beta) < 0 or float(lr) <= 0 or float(noise_std) < 0:
            raise ValueError(f"hypernetwork needs beta >= 0, lr > 0, noise_std >= 0; got "
                             f"{beta}, {lr}, {noise_std}")
        if min(int(embedding_dim), int(hidden), int(chunk_size)) < 1:
            raise ValueError("hypernetwork sizes must be >= 1")
        self.beta, self.lr, self.noise_std = float(beta), float(lr), float(noise_std)
        self.unlearn_weight = self.beta if unlearn_weight is None else float(unlearn_weight)
        self.sizes = (int(embedding_dim), int(hidden), int(chunk_size))
        self.seed = int(seed)
        self.hnet: ChunkedHypernetwork | None = None
        self.embeddings: dict[int, Tensor] = {}
        self.targets: dict[int, Tensor] = {}  # h*_j of learnt, not unlearnt tasks
        self.unlearned: list[int] = []
        self.names: list[str] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self._opt_for: int | None = None
        self._override: ParameterOverride | None = None
        self._strategy: Any = None
        self._layout: dict[str, tuple[int, int, tuple[int, ...], float]] = {}
        self._cache: tuple[int, Tensor] | None = None
        self.last_penalty = 0.0

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"hnet": None if self.hnet is None else
                {k: v.detach().clone() for k, v in self.hnet.state_dict().items()},
                "embeddings": {int(k): v.detach().clone() for k, v in self.embeddings.items()},
                "targets": dict(self.targets), "unlearned": list(self.unlearned),
                "names": list(self.names), "opt_for": self._opt_for,
                "opt": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = list(state["names"])
        self.targets = {int(k): v for k, v in state["targets"].items()}
        self.unlearned = [int(u) for u in state["unlearned"]]
        self.embeddings = {int(k): v.clone().requires_grad_(True)
                           for k, v in state["embeddings"].items()}
        self._pending_hnet = state["hnet"]
        self._pending_opt = (state["opt_for"], state["opt"])
        if self.hnet is not None:
            self._materialise()

    def _materialise(self) -> None:
        pending = getattr(self, "_pending_hnet", None)
        if pending is not None:
            self.hnet.load_state_dict(pending)
            self._pending_hnet = None
        opt_for, opt_state = getattr(self, "_pending_opt", (None, None))
        if opt_for is not None:
            self._make_opt(opt_for)
            if opt_state is not None:
                self.optimizer.load_state_dict(opt_state)
        self._pending_opt = (None, None)

    # --- generation ----------------------------------------------------------------------------
    def _install(self, strategy: Any) -> None:
        self._strategy = strategy
        if self.hnet is not None:
            return
        model = strategy.model
        if not self.names:
            self.names = parameter_names(model)
        params = dict(model.named_parameters())
        offset = 0
        for n in self.names:
            p = params[n]
            fan_in = p[0].numel() if p.dim() > 1 else p.numel()
            self._layout[n] = (offset, offset + p.numel(), tuple(p.shape), 1.0 / math.sqrt(fan_in))
            offset += p.numel()
        state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)
        emb, hidden, chunk = self.sizes
        self.hnet = ChunkedHypernetwork(offset, emb, hidden, chunk)
        torch.random.set_rng_state(state)
        self._override = ParameterOverride(model, self.names, self._generated)
        self._materialise()

    def _embedding(self, label: int) -> Tensor:
        if label not in self.embeddings:
            g = torch.Generator().manual_seed(self.seed * 7919 + label + 1)
            self.embeddings[label] = torch.randn(self.sizes[0], generator=g).requires_grad_(True)
        return self.embeddings[label]

    def generate(self, label: int) -> Tensor:
        r"""The raw hypernetwork output for task ``label`` (before per-parameter scaling)."""
        return self.hnet(self._embedding(label))

    def _generated(self, name: str, param: Tensor) -> Tensor:
        label = _task_label(self._strategy.experience)  # a task not learnt yet: its initial e
        key = (label, torch.is_grad_enabled(), self._step())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.generate(label))
        a, b, shape, scale = self._layout[name]
        return (self._cache[1][a:b] * scale).view(shape)

    def _step(self) -> tuple[int, int, int]:
        s = self._strategy
        return (int(s.experience_index), int(s.epoch), int(s.iteration) * 2 + s.is_training)

    def _make_opt(self, label: int) -> None:
        self.optimizer = torch.optim.Adam([*self.hnet.parameters(), self._embedding(label)], lr=self.lr)
        self._opt_for = label

    def regulariser(self, exclude: int | None = None) -> Tensor | None:
        r"""``beta / |P| * sum_j ||h(e_j) - h*_j||^2`` over the stored tasks but ``exclude``."""
        keep = [j for j in self.targets if j != exclude]
        if not keep or self.beta == 0:
            return None
        total = sum(((self.hnet(self.embeddings[j].detach()) - self.targets[j]) ** 2).sum()
                    for j in keep)
        return self.beta / len(keep) * total

    # --- hooks -------------------------------------------------------------------------------
    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        self._install(strategy)
        request = getattr(strategy.experience, "unlearn_request", None)
        label = _task_label(strategy.experience)
        if request is None and label in self.unlearned:
            raise ValueError(f"hypernetwork: task {label} was unlearned; relearning it is a new "
                             "task with a new label")
        if self._opt_for != label:
            self._make_opt(label)

    def before_eval(self, strategy: Any, **kwargs: Any) -> None:
        self._install(strategy)
        self._cache = None

    def before_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        self._install(strategy)
        self._cache = None

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return  # the unlearning loss holds its own regulariser
        reg = self.regulariser()
        if reg is not None:
            strategy.loss = strategy.loss + reg
            self.last_penalty = float(reg.detach())

    def after_update(self, strategy: Any, **kwargs: Any) -> None:
        self._cache = None  # the engine stepped the hypernetwork (self.optimizer)

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        self._cache = None
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return
        label = _task_label(strategy.experience)
        with torch.no_grad():
            self.targets[label] = self.generate(label).detach().clone()

    # --- data-free unlearning ------------------------------------------------------------------
    def task_unlearning_loss(self, strategy: Any, request: Any) -> Tensor:
        r"""UnCLe's loss for forgetting ``request.task_label``: its generated weights towards
        fresh Gaussian noise, the other tasks' outputs held."""
        self._install(strategy)
        u = int(request.task_label)
        if u not in self.embeddings:
            raise ValueError(f"hypernetwork: task {u} was never learned")
        out = self.generate(u)
        g = torch.Generator().manual_seed(self.seed * 104729 + int(strategy.iteration))
        noise = torch.randn(out.shape, generator=g) * self.noise_std
        loss = self.unlearn_weight * ((out - noise) ** 2).sum()
        reg = self.regulariser(exclude=u)
        return loss if reg is None else loss + reg

    def before_unlearn(self, strategy: Any, request: Any = None, **kwargs: Any) -> None:
        u = getattr(request, "task_label", None)
        if u is not None and int(u) not in self.embeddings:
            raise ValueError(f"hypernetwork: task {u} was never learned")

    def after_unlearn(self, strategy: Any, request: Any = None, **kwargs: Any) -> None:
        u = getattr(request, "task_label", None)
        if u is not None:
            self.targets.pop(int(u), None)  # nothing pulls it back
            if int(u) not in self.unlearned:
                self.unlearned.append(int(u))

    def __repr__(self) -> str:
        return (f"HypernetworkPlugin(beta={self.beta}, lr={self.lr}, tasks="
                f"{sorted(self.targets)}, unlearned={self.unlearned})")
