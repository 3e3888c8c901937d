r"""Content digests of loaded datasets: what a resume state and a partial result are keyed on.

:func:`fingerprint` hashes the tensors and arrays of a dataset object (``Data``,
``TemporalData``, an OGB link dataset, a list of graphs, dicts and tuples of them) with their
dtypes, shapes and attribute names, so two objects get the same digest exactly when they hold
the same values — whatever file or path they were read from.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

__all__ = ["fingerprint"]


def _feed(h: Any, obj: Any, depth: int = 0) -> None:
    if depth > 20:
        raise ValueError("fingerprint: object nested more than 20 levels deep")
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.layout != torch.strided:
            t = t.to_dense()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.dtype != torch.bool else t.numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        h.update(b"D")
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            _feed(h, obj[k], depth + 1)
    elif isinstance(obj, list | tuple):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _feed(h, v, depth + 1)
    elif obj is None or isinstance(obj, bool | int | float | str):
        h.update(repr(obj).encode())
    elif hasattr(obj, "to_dict") and callable(obj.to_dict):  # PyG Data / TemporalData
        h.update(type(obj).__name__.encode())
        _feed(h, obj.to_dict(), depth + 1)
    elif hasattr(obj, "_asdict"):  # named tuples (LinkPropDataset)
        h.update(type(obj).__name__.encode())
        _feed(h, obj._asdict(), depth + 1)
    elif hasattr(obj, "__dict__"):
        h.update(type(obj).__name__.encode())
        _feed(h, vars(obj), depth + 1)
    else:
        raise TypeError(f"fingerprint: cannot hash an object of type {type(obj).__name__}")


def fingerprint(obj: Any) -> str:
    r"""The sha256 hex digest of the values in ``obj`` (see the module docstring)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()
