r"""Methods: one file each, all trained by :class:`graphcl.train.Engine`.

A method is a :class:`Method` subclass in a module of this package (or of any package that
declares a ``graphcl.methods`` entry point): its name and one-line description, the kind of
dataset it takes, its defaults (every config key it knows, with the default value) and
:meth:`Method.build`, which turns (dataset, config, seed) into a model, an optimiser, a task
and the engine's settings. The runner (:mod:`graphcl.runner`) does the rest — seeding,
resume, plugins, aggregation over seeds, the results file — identically for every method.

Registration is local: decorating the class with :func:`register` in its own file is enough;
every module of this package is imported when the registry is first read, so adding a method
edits no central list. A minimal method::

    from graphcl.methods import Method, Setup, register

    @register
    class MyGCN(Method):
        name = "mygcn"
        description = "two-layer GCN node classifier"
        kind = "node"
        defaults = {"hidden": 64, "lr": 0.01, "epochs": 200}

        def build(self, dataset, cfg, seed):
            model = GCN(dataset.num_features, cfg["hidden"], int(dataset.y.max()) + 1)
            opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
            return Setup(model, opt, NodeClassificationTask(dataset),
                         engine={"max_epochs": cfg["epochs"], "monitor": "valid_acc"})
"""

from __future__ import annotations

import abc
import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import torch

__all__ = ["Method", "Setup", "register", "get_method", "available_methods", "DatasetKindError",
           "ConfigError", "dataset_kind"]


class ConfigError(ValueError):
    r"""A config key or value a method does not accept."""


class DatasetKindError(ValueError):
    r"""A dataset of a kind the method cannot train on (e.g. a static graph given to TGN)."""


def dataset_kind(dataset: Any) -> str:
    r"""``"temporal"`` (events ``src, dst, t``), ``"link"`` (an OGB link dataset with its
    split), ``"graphs"`` (a list of graphs), ``"graph"`` (one ``Data``) or ``"other"``."""
    from torch_geometric.data import Data

    if all(hasattr(dataset, k) for k in ("src", "dst", "t")):
        return "temporal"
    if hasattr(dataset, "split_edge"):
        return "link"
    if isinstance(dataset, list | tuple) and dataset and all(isinstance(g, Data) for g in dataset):
        return "graphs"
    if isinstance(dataset, Data):
        return "graph"
    return "other"


_KIND_WORDS = {
    "temporal": "a temporal event stream (TemporalData: src, dst, t)",
    "link": "an OGB link-prediction dataset (graph + official split)",
    "graphs": "a collection of graphs (e.g. a TU dataset)",
    "graph": "a static graph (Data)",
    "other": "an object of another kind",
}


@dataclass
class Setup:
    r"""What :meth:`Method.build` returns for one seed.

    Attributes:
        model (torch.nn.Module): everything trained or stateful (a ``ModuleDict`` for several
            parts), so that checkpoints and the best-epoch snapshot hold all of it.
        optimizer (torch.optim.Optimizer or None): ``None`` for methods with nothing to train.
        task: the :class:`~graphcl.train.engine.Task`.
        engine (dict): :class:`~graphcl.train.engine.Engine` keyword arguments (``max_epochs``,
            ``monitor``, ``patience``, ``selection``, ``eval_splits``, ``final_splits`` ...).
        plugins (list): plugins the method itself needs (run before the user's).
        stats (callable, optional): ``stats(engine) -> dict`` of extra per-seed statistics
            recorded next to the timings (e.g. a learnt weight).
        stream (list, optional): several experiences (tasks) trained one after another with
            :meth:`~graphcl.train.Engine.fit_stream` instead of ``task`` alone (``task`` is
            the first); the reported metrics are the last experience's.
        report (callable, optional): ``report(engine, result) -> {"metrics": {...},
            "stats": {...}}``: extra per-seed metrics and statistics computed after training
            (e.g. an unlearning run's reference scores).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None
    task: Any
    engine: dict[str, Any] = field(default_factory=dict)
    plugins: list[Any] = field(default_factory=list)
    stats: Any = None
    stream: list[Any] | None = None
    report: Any = None


class Method(abc.ABC):
    r"""Base class of a method (see the module docstring).

    Class attributes:
        name (str): the name used by ``graphcl run NAME``.
        description (str): one line for ``graphcl methods`` and ``--help``.
        task (str): the learning task, in words (``"link prediction"`` ...).
        kinds (tuple[str]): the :func:`dataset_kind` s it accepts.
        config_file (str, optional): ``models/<config_file>.yaml`` holds its per-dataset
            hyper-parameters (default: ``name``; ``None``: no file).
        defaults (dict): every config key the method knows, with its default; any other key
            (from the file or ``--set``) is an error naming the known ones.
        resumable (tuple[str]): keys that may change between a run and its resumption.
        quickstart (dict or list[dict]): ``{"dataset": spec, "set": {...}, "metric": key}``
            for the tour; a list gives several rows, each may add ``"stream"``,
            ``"plugins"``, ``"label"`` and ``"task"`` (e.g. a continual-learning row).
        examples (tuple[str]): command lines shown by ``graphcl run --help``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    task: ClassVar[str] = ""  # e.g. "link prediction", shown by the quickstart tour
    kinds: ClassVar[tuple[str, ...]] = ()
    config_file: ClassVar[str | None] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    section_keys: ClassVar[tuple[str, ...]] = ()  # keys whose value is a mapping of sub-keys
    metadata_keys: ClassVar[tuple[str, ...]] = ("source", "description", "notes")
    resumable: ClassVar[tuple[str, ...]] = ("epochs", "patience")
    quickstart: ClassVar[dict[str, Any] | list[dict[str, Any]]] = {}
    examples: ClassVar[tuple[str, ...]] = ()

    # --- config ------------------------------------------------------------------------------
    def config_path(self) -> Path | None:
        from graphcl.config import zoo_dir

        if self.config_file is None:
            return None
        name = self.config_file or self.name
        path = zoo_dir() / f"{name}.yaml"
        return path if path.is_file() else None

    def check_config(self, cfg: dict[str, Any]) -> None:
        r"""Refuses keys the method does not know (one line naming them and the known keys)."""
        unknown = sorted(set(cfg) - set(self.defaults) - {"plugins"})
        if unknown:
            hints = [m for k in unknown for m in difflib.get_close_matches(k, list(self.defaults), 1)]
            hint = f" (did you mean {hints}?)" if hints else ""
            raise ConfigError(f"method {self.name!r}: unknown config key(s) {unknown}{hint}; "
                              f"known: {sorted(self.defaults)}")

    def configure(self, file_config: dict[str, Any] | None, dataset_names: Any = (),
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        r"""The flat config the seeds run with: :attr:`defaults` < the file's ``defaults`` <
        its section for the first of ``dataset_names`` that has one < :meth:`adjust` <
        ``overrides`` (a dotted key sets a key of a section: ``pres.gamma``). Unknown keys are
        a :class:`ConfigError`."""
        from graphcl.config import apply_overrides, dataset_section, select_sections

        file_config = dict(file_config or {})
        names = [n for n in dataset_names if n]
        section = names[0] if names else None  # no own section: the file's "*" one, if any
        for n in names:
            if dataset_section(file_config.get("datasets") or {}, n) is not None:
                section = n
                break
        cfg = select_sections(file_config, section)
        cfg = {k: v for k, v in cfg.items() if k not in self.metadata_keys}
        self.check_config(cfg)
        cfg = self.adjust({**self.defaults, **cfg})
        for key in overrides or {}:
            top = key.split(".", 1)[0]
            self.check_config({top: None})
            if "." in key and top not in self.section_keys:
                raise ConfigError(f"method {self.name!r}: {top!r} has no sub-keys (got {key!r})")
        return apply_overrides(cfg, overrides or {})

    def adjust(self, cfg: dict[str, Any]) -> dict[str, Any]:
        r"""Derived values of a merged config, before the user's overrides (default: none)."""
        return cfg

    def check_dataset(self, dataset: Any, name: str) -> None:
        kind = dataset_kind(dataset)
        if self.kinds and kind not in self.kinds:
            want = " or ".join(_KIND_WORDS[k] for k in self.kinds)
            raise DatasetKindError(f"method {self.name!r} needs {want}; dataset {name!r} is "
                                   f"{_KIND_WORDS[kind]}")

    # --- building ----------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        r"""Model, optimiser, task and engine settings for one seed. The global RNGs are
        seeded with ``seed`` just before; ``out_dir`` is where the run's files go (or
        ``None``)."""

    def after_fit(self, setup: Setup, engine: Any, cfg: dict[str, Any], seed: int,
                  out_dir: Path | None) -> None:
        r"""Called after a seed has trained (e.g. to save a trained artefact); default none."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_REGISTRY: dict[str, Method] = {}
_LOADED = False


def register(cls_or_obj: Any) -> Any:
    r"""Class decorator (or call with an instance): adds the method under its ``name``."""
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    if not obj.name or not obj.description:
        raise ValueError(f"{obj!r} needs a name and a one-line description")
    prev = _REGISTRY.get(obj.name)
    if prev is not None and type(prev) is not type(obj):
        raise ValueError(f"method {obj.name!r} is registered twice ({prev!r}, {obj!r})")
    _REGISTRY[obj.name] = obj
    return cls_or_obj


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    for ep in entry_points(group="graphcl.methods"):
        ep.load()


def available_methods() -> dict[str, Method]:
    r"""Every registered method, by name (sorted)."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> Method:
    r"""The method called ``name``.

    Raises:
        KeyError: unknown name (the message lists the methods and the closest match).
    """
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown method {name!r}{hint} Known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]
