r"""Method configurations: ``models/<method>.yaml`` (the model zoo), per-dataset sections.

A config file looks like::

    source: "authors' README commands (GraphPKU/NeuralCommonNeighbor)"
    defaults: {hidden: 64, epochs: 100, ...}
    datasets:
      cora: {hidden: 256, ...}

:func:`method_config` merges ``defaults`` with the section of the dataset
(:func:`dataset_section`: case-, ``_``/``-``- and ``ogbl-``-insensitive, so ``ogbl_ddi`` and
``ddi`` find ``ogbl-ddi``); a dataset without a section (e.g. ``FORMAT:PATH``) gets the
defaults, or the ``"*"`` section when the file has one. :func:`select_sections` does the same merge on an already loaded config; the method
modules (``graphcl.train.link``, ``graphcl.train.temporal``) only add their own parser defaults
on top of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_set(items: list[str]) -> dict[str, Any]:
    r"""``["KEY=VALUE", ...]`` (the ``--set`` options of the CLI and the scripts) as a dict,
    each value read as YAML (``pres.in_eval=false`` is a bool), except that exponent notation
    without a dot (``lr=1e-3``, a string to YAML 1.1) is read as a float.

    Raises:
        ValueError: An item without ``=`` or with an empty key.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str) and _EXPONENT.fullmatch(parsed.strip()):
            parsed = float(parsed)
        out[key.strip()] = parsed
    return out


def zoo_dir() -> Path:
    r"""The model-zoo folder: ``$GRAPHCL_MODELS``, the installed copy, or the repository's."""
    env = os.environ.get("GRAPHCL_MODELS")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here / "_zoo" / "models", here.parent / "models"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "no model zoo folder found; looked in " + ", ".join(str(c) for c in candidates)
        + " (set GRAPHCL_MODELS to the repository's models/ folder)"
    )


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    r"""Reads a YAML config file and checks its top-level shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: the top level must be a mapping, got {type(cfg).__name__}")
    for key in ("defaults", "datasets"):
        if key in cfg and not isinstance(cfg[key], dict):
            raise ValueError(f"{path}: '{key}' must be a mapping")
    return cfg


def dataset_section(datasets: dict[str, Any], name: str) -> str | None:
    r"""The key of ``datasets`` that names dataset ``name`` (``None`` if none does).

    Keys match case-insensitively with ``_`` and ``-`` equivalent, and with or without an
    ``ogbl-`` prefix (``ddi`` ~ ``ogbl-ddi``). An exact match wins over a normalised one."""
    if name in datasets:
        return name
    def norm(n: str) -> str:
        return n.lower().replace("_", "-").removeprefix("ogbl-")

    target = norm(name)
    for key in datasets:
        if norm(str(key)) == target:
            return key
    return None


def select_sections(config: dict[str, Any], dataset: str | None = None, *,
                    require_section: bool = False) -> dict[str, Any]:
    r"""``defaults`` ⊕ the section of ``dataset`` of a whole config file; a config without
    ``defaults``/``datasets`` keys is taken as already merged and returned as a copy.

    Args:
        config (dict): a config file's content or a flat config.
        dataset (str, optional): dataset name (see :func:`dataset_section`). (default: ``None``)
        require_section (bool, optional): raise ``KeyError`` when the file has no section for
            ``dataset`` instead of returning the defaults. (default: ``False``)
    """
    if "defaults" not in config and "datasets" not in config:
        return dict(config)
    out = dict(config.get("defaults") or {})
    if dataset is not None:
        datasets = config.get("datasets") or {}
        key = dataset_section(datasets, dataset)
        if key is None and "*" in datasets:  # the section for datasets without their own
            key = "*"
        if key is not None:
            out.update(datasets[key] or {})
        elif require_section:
            raise KeyError(f"config has no section for dataset {dataset!r} "
                           f"(have {sorted(datasets)})")
    return out


def method_config(
    method: str,
    dataset: str | None = None,
    path: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r"""The configuration of ``method`` for ``dataset``: defaults ⊕ dataset section ⊕ overrides.

    Args:
        method (str): method name; the file is ``models/<method>.yaml`` unless ``path`` is given.
        dataset (str, optional): dataset card name (see :func:`dataset_section`).
            (default: ``None``)
        path (str or PathLike, optional): an explicit config file. (default: ``None``)
        overrides (dict, optional): values that win over both; a dotted key sets a key of a
            section (``{"pres.gamma": 0.5}``: ``gamma`` of ``pres``, which is created when
            absent or null). (default: ``None``)

    Raises:
        ValueError: A dotted override whose section is a plain value.
    """
    if path is None:
        path = zoo_dir() / f"{method}.yaml"
        if not Path(path).is_file():
            known = sorted(p.stem for p in zoo_dir().glob("*.yaml"))
            raise FileNotFoundError(f"no config for method {method!r} at {path}; known: {known}")
    return apply_overrides(select_sections(read_config(path), dataset), overrides or {})


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    r"""A copy of ``config`` with ``overrides`` set; a dotted key sets a key of a section
    (``{"pres.gamma": 0.5}``: ``gamma`` of ``pres``, created when absent or null).

    Raises:
        ValueError: A dotted override whose section is a plain value.
    """
    out = dict(config)
    for key, value in overrides.items():
        *sections, leaf = key.split(".")
        node = out
        for i, sec in enumerate(sections):
            if node.get(sec) is None or node.get(sec) is True:
                node[sec] = {}
            elif not isinstance(node[sec], dict):
                raise ValueError(f"cannot set {key!r}: {'.'.join(sections[:i + 1])!r} is "
                                 f"{node[sec]!r}, not a section")
            else:
                node[sec] = dict(node[sec])  # never alter a section shared with the YAML's anchors
            node = node[sec]
        node[leaf] = value
    return out
