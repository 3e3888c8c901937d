r"""Atomic checkpoint and result files: a killed run never leaves a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, obj: Any) -> Path:
    r"""Saves ``obj`` with :func:`torch.save` to ``path`` atomically (temp file + rename).

    Args:
        path (str or PathLike): destination file.
        obj (Any): anything :func:`torch.save` accepts (state dicts, RNG states, ...).
    """
    path = Path(path)
    _atomic_write(path, lambda f: torch.save(obj, f))
    return path


def load_checkpoint(path: str | os.PathLike) -> Any:
    r"""Loads a checkpoint written by :func:`save_checkpoint`.

    Always with ``torch.load(weights_only=True)``: a checkpoint holds tensors, numbers,
    strings and containers only (RNG states included, see :mod:`graphcl.train.seed`), so a
    file that would need to unpickle an arbitrary object, and could run code, is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated, foreign or unsafe file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeError(f"checkpoint {path} could not be read safely: {first}") from e


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    r"""Writes ``obj`` as indented JSON to ``path`` atomically."""
    path = Path(path)
    data = (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()
    _atomic_write(path, lambda f: f.write(data))
    return path
