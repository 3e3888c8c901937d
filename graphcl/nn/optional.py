r"""Optional dependencies, imported when first needed, with the install line in the error."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str, purpose: str, extra: str, package: str) -> ModuleType:
    r"""Module ``name``, or an ImportError saying that ``purpose`` needs ``package`` and how
    to install it (the ``graphcl[extra]`` extra, or the package alone)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"{purpose} needs {package}: pip install 'graphcl[{extra}]' "
                          f"(or pip install {package})") from e
