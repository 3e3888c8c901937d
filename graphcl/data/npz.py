r"""The gnn-benchmark / graph2gauss ``.npz`` format of Amazon, Coauthor and CitationFull graphs.

One ``.npz`` holds the adjacency as CSR arrays (``adj_data``, ``adj_indices``, ``adj_indptr``,
``adj_shape``), the node attributes as CSR arrays (``attr_*``) or a dense ``attr_matrix``, and
``labels``. :func:`read_npz` reads it as PyG's ``read_npz`` does (attributes binarised, self
loops removed, edges made undirected) into a :class:`~torch_geometric.data.Data`, without
unpickling anything (``allow_pickle=False``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from graphcl.data.errors import DataFormatError

__all__ = ["read_npz"]


def _csr(z: np.lib.npyio.NpzFile, prefix: str, path: Path) -> tuple[np.ndarray, ...]:
    keys = [f"{prefix}_{k}" for k in ("data", "indices", "indptr", "shape")]
    missing = [k for k in keys if k not in z.files]
    if missing:
        raise DataFormatError(path, f"missing arrays {missing} (have {sorted(z.files)})")
    data, indices, indptr, shape = (z[k] for k in keys)
    if shape.shape != (2,) or (shape < 0).any():
        raise DataFormatError(path, f"{prefix}_shape must hold two sizes, got {shape.tolist()}")
    n_rows, n_cols = (int(v) for v in shape)
    if indptr.ndim != 1 or indptr.size != n_rows + 1 or indptr[0] != 0 or (
            np.diff(indptr) < 0).any() or indptr[-1] != indices.size:
        raise DataFormatError(path, f"{prefix}_indptr is not a CSR row pointer for {n_rows} rows "
                                    f"and {indices.size} entries")
    if data.size != indices.size:
        raise DataFormatError(path, f"{prefix}_data has {data.size} entries, "
                                    f"{prefix}_indices {indices.size}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        bad = int(np.argmax((indices < 0) | (indices >= n_cols)))
        raise DataFormatError(path, f"{prefix}_indices[{bad}] = {int(indices[bad])} is outside "
                                    f"0..{n_cols - 1}")
    if not np.isfinite(data.astype(np.float64, copy=False)).all():
        raise DataFormatError(path, f"{prefix}_data holds non-finite values")
    return data, indices, indptr, (n_rows, n_cols)


def _rows(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


def read_npz(path: str | os.PathLike) -> Data:
    r"""Reads a gnn-benchmark ``.npz`` graph (or the single ``.npz`` of a folder, or of its
    ``raw/`` subfolder, as PyG lays out ``CitationFull(root, 'Cora_ML')``).

    Returns:
        Data: ``x`` float ``[N, F]`` (binarised, as PyG), ``edge_index`` undirected without
        self loops, ``y`` ``[N]`` (when the file has ``labels``), ``num_nodes``.

    Raises:
        DataFormatError: not an ``.npz``, missing or inconsistent arrays (named), pickled
            object arrays.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.npz")) or sorted((path / "raw").glob("*.npz"))
        if len(found) != 1:
            raise DataFormatError(path, f"expected one .npz file in the folder (or its raw/), "
                                        f"found {[p.name for p in found]}")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataFormatError(path, f"not a readable .npz without pickled objects ({err})") from err
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataFormatError(path, "a single .npy array, not an .npz archive of arrays")
    with z:
        try:
            adj_data, adj_idx, adj_ptr, (n, n2) = _csr(z, "adj", path)
            if n != n2:
                raise DataFormatError(path, f"adjacency is {n}x{n2}, not square")
            if "attr_data" in z.files:
                a_data, a_idx, a_ptr, (na, f) = _csr(z, "attr", path)
                if na != n:
                    raise DataFormatError(path, f"attributes have {na} rows for {n} nodes")
                x = torch.zeros(n, f)
                x[torch.from_numpy(_rows(a_ptr)), torch.from_numpy(a_idx.astype(np.int64))] = (
                    torch.from_numpy(a_data.astype(np.float32)))
            elif "attr_matrix" in z.files:
                x = torch.from_numpy(np.asarray(z["attr_matrix"], dtype=np.float32))
                if x.dim() != 2 or x.size(0) != n:
                    raise DataFormatError(path, f"attr_matrix has shape {tuple(x.shape)} for "
                                                f"{n} nodes")
            else:
                x = None
            y = None
            if "labels" in z.files:
                labels = z["labels"]
                if labels.ndim != 1 or labels.size != n or labels.dtype.kind not in "iu":
                    raise DataFormatError(path, f"labels must be {n} integers, got shape "
                                                f"{labels.shape} of {labels.dtype}")
                if labels.size and labels.min() < 0:
                    raise DataFormatError(path, f"negative label {int(labels.min())}")
                y = torch.from_numpy(labels.astype(np.int64))
        except ValueError as err:  # an object array (pickled) inside the archive
            if isinstance(err, DataFormatError):
                raise
            raise DataFormatError(path, f"cannot read its arrays without unpickling ({err})") from err
    if x is not None:
        x[x > 0] = 1.0  # PyG's read_npz binarises the attributes
    keep = adj_data != 0
    ei = torch.from_numpy(np.stack([_rows(adj_ptr)[keep], adj_idx[keep].astype(np.int64)]))
    ei, _ = remove_self_loops(ei)
    ei = to_undirected(ei, num_nodes=n)
    return Data(x=x, edge_index=ei, y=y, num_nodes=n)
