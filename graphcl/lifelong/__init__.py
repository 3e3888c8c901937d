r"""Continual learning and unlearning over every graphcl method, as engine plugins.

Strategies are :class:`~graphcl.train.plugins.Plugin` s with Avalanche's hook names, so they
compose with every method (all train through :class:`~graphcl.train.Engine`). A plugin class
registers itself under a name with :func:`register_plugin` in its own module of this package;
``graphcl run METHOD --plugin NAME[:key=value,...]`` and a config's ``plugins:`` key build
them by that name (:func:`build_plugins`).

Available: ``ewc`` (:class:`~graphcl.lifelong.ewc.EWC`). Unlearning requests (``df_mask`` /
``dr_mask`` over a split's training pairs, GNNDelete's in/out pools), ``unlearn()`` with its
hooks, the GNNDelete harness's metrics, the membership attack and the methods (retrain,
gradient ascent, GNNDelete, D2DGN, SSD, analytic): :mod:`graphcl.lifelong.unlearning`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Any

from graphcl.train.plugins import Plugin

__all__ = ["Plugin", "register_plugin", "available_plugins", "build_plugin", "build_plugins",
           "parse_plugin_spec"]

_PLUGINS: dict[str, type[Plugin]] = {}
_LOADED = False


def register_plugin(name: str):
    r"""Class decorator: makes a plugin buildable by ``name`` from the command line."""

    def wrap(cls: type[Plugin]) -> type[Plugin]:
        if name in _PLUGINS and _PLUGINS[name] is not cls:
            raise ValueError(f"plugin {name!r} is registered twice")
        _PLUGINS[name] = cls
        cls.plugin_name = name  # type: ignore[attr-defined]
        return cls

    return wrap


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{mod.name}")


def available_plugins() -> dict[str, type[Plugin]]:
    _load_all()
    return dict(sorted(_PLUGINS.items()))


def parse_plugin_spec(spec: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r"""``"ewc:ewc_lambda=100,mode=online"`` (values read as YAML) or
    ``{"name": "ewc", "ewc_lambda": 100}`` → ``("ewc", {"ewc_lambda": 100, ...})``."""
    if isinstance(spec, dict):
        if "name" not in spec:
            raise ValueError(f"plugin spec {spec!r} needs a 'name'")
        kw = {k: v for k, v in spec.items() if k != "name"}
        return str(spec["name"]), kw
    import yaml

    name, _, rest = str(spec).partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"plugin spec {spec!r}: expected NAME:key=value,..., got {item!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    return name.strip(), kwargs


def build_plugin(spec: str | dict[str, Any]) -> Plugin:
    r"""One plugin from a spec (see :func:`parse_plugin_spec`).

    Raises:
        KeyError: unknown plugin name. ValueError: unknown or bad keyword.
    """
    name, kwargs = parse_plugin_spec(spec)
    plugins = available_plugins()
    if name not in plugins:
        close = difflib.get_close_matches(name, list(plugins), 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown plugin {name!r}{hint} Known: {sorted(plugins)}")
    cls = plugins[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    bad = sorted(set(kwargs) - set(params))
    if bad:
        raise ValueError(f"plugin {name!r}: unknown option(s) {bad}; known: {params}")
    return cls(**kwargs)


def build_plugins(specs: Any) -> list[Plugin]:
    return [build_plugin(s) for s in specs]
