r"""Readers for the graph file formats that graphcl's datasets come in.

Every reader is public, works on any file or folder of its format without a dataset card, and is
vectorised (pandas / numpy): no Python loop runs over the rows of a large file. Malformed input
raises :class:`~graphcl.data.errors.DataFormatError` naming the file, the 1-based line and what
was expected; a missing file raises :class:`FileNotFoundError` naming it.

* ``planetoid``: a folder with ``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` →
  :class:`Data`.
* ``ogb-linkprop``: an OGB folder (``raw/edge.csv.gz``, ``split/<kind>/*.pt``) →
  :class:`LinkPropDataset`.
* ``snap-signed``: ``src,dst,rating,time`` → :class:`TemporalData`; ``src dst sign`` →
  :class:`Data`.
* ``snap-temporal``: ``src dst unix_time`` → :class:`TemporalData`.
* ``jodie``: ``user,item,timestamp,state_label,f1,...`` → :class:`TemporalData`.
* ``ml``: ``ml_<name>.csv`` (+ ``.npy`` edge / ``_node.npy`` node features) →
  :class:`TemporalData`.
* ``tu``: a folder with ``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt``, ... → ``list[Data]``.
* ``idx``: an IDX file (gzipped or not) → ``Tensor``; a folder of them → ``dict[str, Tensor]``.
* ``npz``: a gnn-benchmark / graph2gauss ``.npz`` (Amazon, Coauthor, CitationFull) → :class:`Data`.
* ``edgelist``: any delimited edge list, columns by name or position, string ids allowed →
  :class:`Data` or, with a time column, :class:`TemporalData`.

A PyG dataset folder (``<root>/<Name>`` with the files in ``raw/``) is read like its ``raw/``.

Conventions shared by the temporal readers:

* Events come back sorted by time with a *stable* sort. When the file is not sorted, the reader
  sorts it and emits a :class:`UserWarning` (pass ``warn_unsorted=False`` to silence it, e.g. for
  SNAP Bitcoin files, which are known to be unsorted).
* ``t`` is ``int64`` when every timestamp in the file is integral, else ``float64``; negative
  timestamps are an error.
* ``msg`` is always present (``float32``, ``[E, 0]`` when the file has no edge features).
* ``num_nodes`` is PyG's ``TemporalData.num_nodes`` property (``max id + 1``). The readers make
  ids contiguous so that it equals the number of distinct nodes. (An ``int`` cannot be stored
  in a ``TemporalData``: ``TemporalData.index_select`` calls ``.size(0)`` on every attribute.)
* Node-level tensors (``node_ids``: original ids; ``x``: ml node features) ride along in the
  ``TemporalData``. PyG's ``data[idx]`` slices every attribute whose length equals the number
  of events, so in the rare case ``num_nodes == num_events`` slice ``src``/``dst``/``t``/``msg``
  yourself.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import pickle
import re
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data, TemporalData
from torch_geometric.utils import coalesce, one_hot, remove_self_loops

from graphcl.data.errors import DataFormatError
from graphcl.data.npz import read_npz

__all__ = [
    "FORMATS",
    "LinkPropDataset",
    "infer_format",
    "read",
    "read_idx",
    "read_jodie",
    "read_ml",
    "read_ogb_linkprop",
    "read_planetoid",
    "read_snap_signed",
    "read_snap_temporal",
    "read_tu",
    "read_npz",
]

PathLike = str | os.PathLike
# What reading a truncated / corrupt / mis-encoded (gzip) file can raise.
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


class LinkPropDataset(NamedTuple):
    r"""An OGB link-property-prediction dataset: the graph and its official edge split.

    Attributes:
        data (Data): ``num_nodes``, ``edge_index`` ``[2, 2E]`` (each train edge in both
            directions, interleaved as OGB's ``add_inverse_edge`` does), ``x`` when the dataset
            has node features, and any ``node_*`` / ``edge_*`` extra files.
        split_edge (dict): exactly what ``PygLinkPropPredDataset.get_edge_split()`` returns:
            ``{'train': {'edge': LongTensor[E, 2], ...}, 'valid': {'edge': ..., 'edge_neg':
            ...}, 'test': {...}}``.
    """

    data: Data
    split_edge: dict[str, dict[str, Tensor]]


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _require_file(path: PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        raise DataFormatError(path, "expected a file, found a folder")
    return path


def _require_dir(path: PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: folder not found")
    if not path.is_dir():
        raise DataFormatError(path, "expected a folder, found a file")
    return path


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_text(path: Path) -> io.TextIOBase:
    if _is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _unreadable(path: Path, err: BaseException) -> DataFormatError:
    r"""The error for bytes that do not decode: a corrupt gzip stream is named as one."""
    if _is_gzip(path):
        return DataFormatError(path, f"corrupt or truncated gzip stream ({err})")
    return DataFormatError(path, f"cannot read the file ({err})")


def _check_line_endings(path: Path) -> None:
    r"""``\r\r\n`` line ends (a CRLF file converted a second time) read as blank rows
    between the data: refuse them with the fix, rather than report an empty file."""
    try:
        with (gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")) as f:
            head = f.read(1 << 16)
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from err
    if b"\r\r\n" in head:
        raise DataFormatError(path, "lines end in '\\r\\r\\n' (a Windows file converted twice); "
                                    "convert the line endings to '\\n' (e.g. dos2unix)")


def _head_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` lines of a (possibly gzipped) text file, without line endings."""
    try:
        with _open_text(path) as f:
            return [line.rstrip("\r\n") for line in itertools.islice(f, n)]
    except _READ_ERRORS as err:  # gzip.BadGzipFile is an OSError
        raise _unreadable(path, err) from err


def _line_text(path: Path, lineno: int) -> str | None:
    """Line ``lineno`` (1-based) of ``path``; only used on the error path."""
    try:
        with _open_text(path) as f:
            for line in itertools.islice(f, lineno - 1, lineno):
                return line.rstrip("\r\n")
    except _READ_ERRORS:
        return None
    return None


def _leading_comments(path: Path, prefix: str = "#") -> list[str]:
    """The run of comment lines at the top of the file (SNAP headers)."""
    out: list[str] = []
    try:
        with _open_text(path) as f:
            for line in f:  # stops at the first data line: a header, not a pass over the data
                if not line.startswith(prefix):
                    break
                out.append(line.rstrip("\r\n"))
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from err
    return out


def _split_fields(line: str, sep: str) -> list[str]:
    if sep == r"\s+":
        return line.split()
    return line.split(sep)


def _diagnose_field_counts(path: Path, sep: str, skiprows: int) -> DataFormatError:
    """Find the first line whose field count differs from the first data line (error path)."""
    expected = None
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if lineno <= skiprows or not line.strip():
                continue
            line = line.rstrip("\r\n")
            n = len(_split_fields(line.strip() if sep == r"\s+" else line, sep))
            if expected is None:
                expected = n
            elif n != expected:
                return DataFormatError(
                    path,
                    f"wrong number of columns: expected {expected}, found {n}",
                    row=lineno,
                    line=line,
                )
    return DataFormatError(path, "the file could not be parsed as a delimited table")


def _read_table(
    path: PathLike,
    *,
    sep: str,
    skiprows: int = 0,
    names: list[str] | None = None,
    ncols: Iterable[int] | None = None,
    min_cols: int = 1,
    what: str = "rows",
) -> tuple[pd.DataFrame, np.ndarray]:
    r"""Read a headerless numeric table and check it cell by cell, vectorised.

    Returns the frame (blank lines dropped) and, per row, its 1-based line number in the file.
    ``names`` name the leading columns (for messages and access); ``ncols`` lists the allowed
    column counts.
    """
    path = _require_file(path)
    _check_line_endings(path)
    try:
        with warnings.catch_warnings():  # mixed-type chunks: the cell checks below report them
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            df = pd.read_csv(
                path,
                sep=sep,
                header=None,
                skiprows=skiprows,
                skip_blank_lines=False,  # keeps row i at line skiprows + i + 1
                compression="gzip" if _is_gzip(path) else None,
                engine="c",
            )
    except pd.errors.EmptyDataError as err:
        raise DataFormatError(path, f"the file is empty (no {what})") from err
    except pd.errors.ParserError as err:
        raise _diagnose_field_counts(path, sep, skiprows) from err
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from err

    lines = np.arange(len(df), dtype=np.int64) + skiprows + 1
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    if len(df) == 0:
        raise DataFormatError(path, f"the file is empty (no {what})")

    n = df.shape[1]
    allowed = None if ncols is None else sorted(set(ncols))
    if (allowed is not None and n not in allowed) or n < min_cols:
        exp = " or ".join(map(str, allowed)) if allowed is not None else f"at least {min_cols}"
        if names:
            exp += f" ({','.join(names)}{',...' if n > len(names) else ''})"
        raise DataFormatError(
            path,
            f"wrong number of columns: expected {exp}, found {n}",
            row=int(lines[0]),
            line=_line_text(path, int(lines[0])),
        )
    cols = list(names or [])[:n] + [f"col{i}" for i in range(len(names or []), n)]
    df.columns = cols

    for col in cols:  # non-numeric cells
        if not pd.api.types.is_numeric_dtype(df[col]):
            conv = pd.to_numeric(df[col], errors="coerce")
            bad = (conv.isna() & df[col].notna()).to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                raise DataFormatError(
                    path,
                    f"non-numeric value {df[col].iloc[i]!r}",
                    row=int(lines[i]),
                    column=col,
                    line=_line_text(path, int(lines[i])),
                )
            df[col] = conv
    na = df.isna().to_numpy()
    if na.any():  # missing cells: short rows or empty fields or 'nan'
        i, j = np.argwhere(na)[0]
        text = _line_text(path, int(lines[i]))
        found = len(_split_fields(text.strip(), sep)) if text is not None else None
        detail = f" (the row has {found} fields, expected {n})" if found not in (None, n) else ""
        raise DataFormatError(
            path,
            f"missing or NaN value{detail}",
            row=int(lines[i]),
            column=cols[j],
            line=text,
        )
    values = df.to_numpy()
    if values.dtype.kind == "f":
        inf = ~np.isfinite(values)
        if inf.any():
            i, j = np.argwhere(inf)[0]
            raise DataFormatError(
                path,
                f"non-finite value {values[i, j]}",
                row=int(lines[i]),
                column=cols[j],
                line=_line_text(path, int(lines[i])),
            )
    return df, lines


def _int_ids(
    df: pd.DataFrame,
    col: str,
    lines: np.ndarray,
    path: Path,
    *,
    low: int = 0,
    high: int | None = None,
    what: str = "node id",
) -> np.ndarray:
    """Column ``col`` as int64 node ids in ``[low, high]``, with the first bad row reported."""
    v = df[col].to_numpy()
    if v.dtype.kind == "f":
        bad = v != np.floor(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataFormatError(
                path,
                f"expected an integer {what}, found {v[i]}",
                row=int(lines[i]),
                column=col,
                line=_line_text(path, int(lines[i])),
            )
    v = v.astype(np.int64)
    bad = v < low
    if high is not None:
        bad |= v > high
    if bad.any():
        i = int(np.argmax(bad))
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise DataFormatError(
            path,
            f"{what} {v[i]} out of range (expected {rng})",
            row=int(lines[i]),
            column=col,
            line=_line_text(path, int(lines[i])),
        )
    return v


def _timestamps(df: pd.DataFrame, col: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """Timestamps: int64 when all integral, else float64; negatives are an error."""
    v = df[col].to_numpy()
    neg = v < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise DataFormatError(
            path,
            f"negative timestamp {v[i]}",
            row=int(lines[i]),
            column=col,
            line=_line_text(path, int(lines[i])),
        )
    if v.dtype.kind == "f":
        if np.all(v == np.floor(v)) and np.all(v < 2**63):
            return v.astype(np.int64)
        return v.astype(np.float64)
    return v.astype(np.int64)


def _time_order(t: np.ndarray, path: Path, warn_unsorted: bool) -> np.ndarray | None:
    """A stable sorting permutation when ``t`` is not ascending (``None`` when it is)."""
    if t.size < 2 or bool(np.all(t[1:] >= t[:-1])):
        return None
    if warn_unsorted:
        warnings.warn(
            f"{path}: events are not sorted by time; sorting them (stable sort)",
            UserWarning,
            stacklevel=3,
        )
    return np.argsort(t, kind="stable")


def _remap(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous ids 0..N-1 in the order of the sorted original ids."""
    ids = np.concatenate([src, dst])
    high = int(ids.max())
    if high <= 4 * ids.size + (1 << 20):  # dense enough: a lookup table beats a sort
        present = np.zeros(high + 1, dtype=bool)
        present[ids] = True
        node_ids = np.flatnonzero(present).astype(np.int64)
        table = np.cumsum(present, dtype=np.int64) - 1
        inv = table[ids]
    else:
        node_ids, inv = np.unique(ids, return_inverse=True)
        inv = inv.reshape(-1).astype(np.int64)
    return inv[: src.size], inv[src.size :], node_ids


def _sniff_sep(line: str) -> str:
    if "," in line:
        return ","
    if "\t" in line:
        return "\t"
    return r"\s+"


def _temporal(
    src: np.ndarray,
    dst: np.ndarray,
    t: np.ndarray,
    msg: np.ndarray | None,
    order: np.ndarray | None,
    **extra: np.ndarray,
) -> TemporalData:
    """Build a TemporalData, applying ``order`` to every per-event array."""

    def ev(a: np.ndarray) -> np.ndarray:
        return a if order is None else a[order]

    e = src.size
    msg_t = (
        torch.zeros(e, 0, dtype=torch.float)
        if msg is None
        else torch.from_numpy(np.ascontiguousarray(ev(msg), dtype=np.float32))
    )
    data = TemporalData(
        src=torch.from_numpy(np.ascontiguousarray(ev(src))),
        dst=torch.from_numpy(np.ascontiguousarray(ev(dst))),
        t=torch.from_numpy(np.ascontiguousarray(ev(t))),
        msg=msg_t,
    )
    for key, value in extra.items():
        if key.startswith("node_") or key == "x":  # node-level: not permuted
            data[key] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            data[key] = torch.from_numpy(np.ascontiguousarray(ev(value)))
    return data


# ---------------------------------------------------------------------------------------------
# SNAP signed / temporal
# ---------------------------------------------------------------------------------------------


def _check_truncated_tail(df: pd.DataFrame, col: str, lines: np.ndarray, path: Path,
                          sep: str) -> None:
    r"""A plain file whose last line has no newline and whose last ``col`` field is shorter
    than every one of the (up to) 100 lines before it was cut short (a truncated copy): refuse
    it, rather than read a changed last value."""
    if _is_gzip(path) or len(df) < 2:
        return  # a cut gzip stream fails to decompress instead
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    if tail.endswith(b"\n"):
        return
    rows = tail.decode("utf-8", errors="replace").splitlines()[-101:]
    k = list(df.columns).index(col)
    fields = [_split_fields(r.strip(), sep) for r in rows if r.strip()]
    lengths = [len(f[k]) for f in fields if len(f) > k]
    if len(lengths) >= 2 and lengths[-1] < min(lengths[:-1]):
        v = df[col].to_numpy()
        raise DataFormatError(path, f"the last line has no newline and its {col} {v[-1]:g} is "
                                    f"shorter than on any of the {len(lengths) - 1} lines before "
                                    "it: the file looks truncated", row=int(lines[-1]),
                              column=col, line=_line_text(path, int(lines[-1])))


def _check_values(df: pd.DataFrame, col: str, ok: np.ndarray, lines: np.ndarray, path: Path,
                  expected: str) -> None:
    if not ok.all():
        i = int(np.argmax(~ok))
        raise DataFormatError(path, f"{col} {df[col].iloc[i]:g} is not {expected}",
                              row=int(lines[i]), column=col, line=_line_text(path, int(lines[i])))


def _snap_layout(path: Path, default_sep: str) -> tuple[int, str]:
    """Lines to skip (``#`` comments, then one textual header line if any) and the separator."""
    skip = len(_leading_comments(path))
    first = _head_lines(path, skip + 1)
    if len(first) <= skip:
        return skip, default_sep
    sep = _sniff_sep(first[-1])
    if first[-1].strip() and _has_header(first[-1], sep):  # e.g. "src,dst,rating,time"
        skip += 1
    return skip, sep


def read_snap_signed(path: PathLike, *, warn_unsorted: bool = True) -> TemporalData | Data:
    r"""Read a SNAP signed network (Bitcoin-OTC/Alpha CSV, Epinions/Slashdot TSV).

    Two layouts are accepted; leading ``#`` lines and one textual header line are skipped, and
    gzip is detected from the content:

    * ``src,dst,rating,time`` (SNAP Bitcoin, ratings -10..10, unix seconds, *not* time-sorted)
      returns a :class:`TemporalData` with ``src``, ``dst``, ``t``, ``msg`` ``[E, 0]``,
      ``sign`` (``LongTensor`` of :math:`\operatorname{sign}(\text{rating})`), ``weight``
      (the rating, ``float``) and ``node_ids``, sorted by time (stable).
    * ``src dst sign`` (SNAP Epinions/Slashdot, no time) returns a :class:`Data` with
      ``edge_index`` ``[2, E]`` in file order, ``sign``, ``weight``, ``num_nodes``, ``node_ids``.

    SNAP ids have gaps (Bitcoin-OTC uses 1..6005 for 5,881 nodes), so ids are remapped to
    ``0..N-1`` in the order of the sorted original ids; ``node_ids[i]`` is node ``i``'s original
    id and ``num_nodes`` is the number of distinct ids. A rating of 0 gets sign 0.

    Args:
        path (str or os.PathLike): the file (plain or gzipped).
        warn_unsorted (bool, optional): warn when the events had to be sorted by time.
            (default: :obj:`True`)
    """
    path = _require_file(path)
    skip, sep = _snap_layout(path, ",")
    df, lines = _read_table(
        path, sep=sep, skiprows=skip, names=["src", "dst", "rating", "time"], ncols=(3, 4),
        what="edges",
    )
    timed = df.shape[1] == 4
    if not timed:
        df = df.rename(columns={"rating": "sign"})
        _check_values(df, "sign", np.isin(df["sign"].to_numpy(), (-1, 0, 1)), lines, path,
                      "a sign (-1, 0 or +1)")
    else:
        r = df["rating"].to_numpy()
        _check_values(df, "rating", (np.abs(r) <= 10) & (r == np.floor(r)), lines, path,
                      "an integer rating in -10..10 (the SNAP Bitcoin scale)")
        _check_truncated_tail(df, "time", lines, path, sep)
    src = _int_ids(df, "src", lines, path)
    dst = _int_ids(df, "dst", lines, path)
    weight = df["rating" if timed else "sign"].to_numpy().astype(np.float32)
    sign = np.sign(weight).astype(np.int64)
    src, dst, node_ids = _remap(src, dst)
    if not timed:
        return Data(
            edge_index=torch.from_numpy(np.stack([src, dst])),
            sign=torch.from_numpy(sign),
            weight=torch.from_numpy(weight),
            num_nodes=int(node_ids.size),
            node_ids=torch.from_numpy(node_ids.astype(np.int64)),
        )
    t = _timestamps(df, "time", lines, path)
    order = _time_order(t, path, warn_unsorted)
    return _temporal(
        src, dst, t, None, order, sign=sign, weight=weight,
        node_ids=node_ids.astype(np.int64),
    )


def read_snap_temporal(path: PathLike, *, warn_unsorted: bool = True) -> TemporalData:
    r"""Read a SNAP temporal network ``src dst unix_time`` (e.g. CollegeMsg, ``sx-*``).

    Separator (space, tab or comma), leading ``#`` lines, a textual header line and gzip are
    detected. Ids are remapped
    to ``0..N-1`` in the order of the sorted original ids (``node_ids`` keeps the originals), and
    the events are sorted by time (stable; a :class:`UserWarning` when they were not).

    Args:
        path (str or os.PathLike): the file (plain or gzipped).
        warn_unsorted (bool, optional): warn when the events had to be sorted by time.
            (default: :obj:`True`)

    Returns:
        TemporalData: ``src``, ``dst``, ``t`` (int64 seconds), ``msg`` ``[E, 0]``, ``node_ids``.
    """
    path = _require_file(path)
    skip, sep = _snap_layout(path, r"\s+")
    df, lines = _read_table(
        path, sep=sep, skiprows=skip, names=["src", "dst", "time"], ncols=(3,), what="events"
    )
    _check_truncated_tail(df, "time", lines, path, sep)
    src = _int_ids(df, "src", lines, path)
    dst = _int_ids(df, "dst", lines, path)
    t = _timestamps(df, "time", lines, path)
    src, dst, node_ids = _remap(src, dst)
    order = _time_order(t, path, warn_unsorted)
    return _temporal(src, dst, t, None, order, node_ids=node_ids.astype(np.int64))


# ---------------------------------------------------------------------------------------------
# JODIE and ml_* (TGN preprocessing)
# ---------------------------------------------------------------------------------------------


def _has_header(line: str, sep: str) -> bool:
    r"""A header line has no numeric field (a data row with one bad value is not a header:
    it must fail on that value, not be skipped)."""
    fields = [f for f in _split_fields(line.strip(), sep) if f.strip()]
    if not fields:
        return False
    for f in fields:
        try:
            float(f)
        except ValueError:
            continue
        return False
    return True


def read_jodie(path: PathLike, *, warn_unsorted: bool = True) -> TemporalData:
    r"""Read a JODIE interaction CSV (Kumar et al., KDD 2019).

    The canonical files (``snap.stanford.edu/jodie/<name>.csv``) have one header line and rows
    ``user_id,item_id,timestamp,state_label,f1,...,fk``. As PyG's ``JODIEDataset`` does, items
    are offset by ``max(user) + 1`` so users and items share one id space, ``y`` is the state
    label and ``msg`` the features (``[E, 0]`` when there are none).

    The feature-less variant ``u,i,ts,label`` stores items *already offset*. It is detected by
    ``min(item) > max(user)`` (impossible in a canonical file, whose item ids start at 0), and
    then no offset is added.

    Args:
        path (str or os.PathLike): the CSV file (plain or gzipped).
        warn_unsorted (bool, optional): warn when the events had to be sorted by time.
            (default: :obj:`True`)

    Returns:
        TemporalData: ``src``, ``dst``, ``t``, ``msg`` ``[E, k]`` float, ``y`` long;
        ``num_nodes = max(dst) + 1``.
    """
    path = _require_file(path)
    head = _head_lines(path, 1)
    skip = 1 if head and _has_header(head[0], ",") else 0
    df, lines = _read_table(
        path, sep=",", skiprows=skip, names=["user", "item", "timestamp", "state_label"],
        min_cols=4, what="events",
    )
    src = _int_ids(df, "user", lines, path)
    dst = _int_ids(df, "item", lines, path)
    above = dst > int(src.max())
    if not above.all():
        if above.mean() >= 0.5:  # a pre-offset file with a few items inside the user range
            i = int(np.argmax(~above))
            raise DataFormatError(path, f"item id {dst[i]} is inside the user id range "
                                        f"0..{int(src.max())}, while {above.mean():.0%} of the "
                                        "rows give items already offset past the users",
                                  row=int(lines[i]), column="item",
                                  line=_line_text(path, int(lines[i])))
        dst = dst + int(src.max()) + 1
    t = _timestamps(df, "timestamp", lines, path)
    y = _int_ids(df, "state_label", lines, path, low=-(2**62), what="state label")
    msg = df.iloc[:, 4:].to_numpy(dtype=np.float32) if df.shape[1] > 4 else None
    order = _time_order(t, path, warn_unsorted)
    return _temporal(src, dst, t, msg, order, y=y)


def _ml_files(path: Path) -> tuple[Path, str]:
    if path.is_dir():
        csvs = sorted(path.glob("ml_*.csv"))
        if len(csvs) != 1:
            found = ", ".join(p.name for p in csvs) or "none"
            raise DataFormatError(path, f"expected exactly one ml_<name>.csv, found {found}")
        path = csvs[0]
    path = _require_file(path)
    m = re.fullmatch(r"ml_(.+)\.csv(\.gz)?", path.name)
    if m is None:
        raise DataFormatError(path, "expected a file named ml_<name>.csv")
    return path, m.group(1)


def read_ml(path: PathLike, *, warn_unsorted: bool = True) -> TemporalData:
    r"""Read the TGN/CAWN/DyGLib preprocessed ``ml_<name>.csv`` (+ ``ml_<name>.npy``, ``_node.npy``).

    The CSV has a header ``,u,i,ts,label,idx`` (the first, unnamed column is the pandas index and
    is ignored). Every id, and ``idx``, is 1-based so that 0 can be a padding id; this reader
    returns 0-based nodes (``src = u - 1``, ``dst = i - 1``). When ``ml_<name>.npy`` exists (edge
    features with an all-zero padding row 0), ``msg = feats[idx]``; when ``ml_<name>_node.npy``
    exists, ``x = node_feats[1:]`` (node ``v`` gets row ``v + 1``).

    Args:
        path (str or os.PathLike): the ``ml_<name>.csv`` file, or a folder holding exactly one.
        warn_unsorted (bool, optional): warn when the events had to be sorted by time.
            (default: :obj:`True`)

    Returns:
        TemporalData: ``src``, ``dst``, ``t``, ``msg``, ``y`` (label), ``x`` when node features
        exist.
    """
    path, name = _ml_files(Path(path))
    head = _head_lines(path, 1)
    if not head or not head[0].strip():
        raise DataFormatError(path, "the file is empty (no header line)")
    header = [h.strip() for h in head[0].split(",")]
    missing = [c for c in ("u", "i", "ts", "label") if c not in header]
    if missing:
        raise DataFormatError(
            path, f"header {head[0]!r} lacks column(s) {missing} (expected ',u,i,ts,label,idx')",
            row=1,
        )
    names = [h if h else "index" for h in header]
    df, lines = _read_table(path, sep=",", skiprows=1, names=names, ncols=(len(names),),
                            what="events")
    node_path = path.with_name(f"ml_{name}_node.npy")
    edge_path = path.with_name(f"ml_{name}.npy")
    node_feat = _load_npy(node_path) if node_path.exists() else None
    high = None if node_feat is None else node_feat.shape[0] - 1
    u = _int_ids(df, "u", lines, path, low=1, high=high)
    i = _int_ids(df, "i", lines, path, low=1, high=high)
    t = _timestamps(df, "ts", lines, path)
    y = df["label"].to_numpy()
    y = y.astype(np.int64) if np.all(y == np.floor(y)) else y.astype(np.float32)
    msg = None
    if edge_path.exists():
        feats = _load_npy(edge_path)
        if "idx" in df.columns:
            idx = _int_ids(df, "idx", lines, path, low=1, high=feats.shape[0] - 1,
                           what="edge index")
        else:  # no idx column: row k of the CSV is feature row k + 1
            idx = np.arange(1, len(df) + 1)
            if feats.shape[0] < len(df) + 1:
                raise DataFormatError(
                    edge_path, f"has {feats.shape[0]} rows, expected {len(df) + 1} (with padding)"
                )
        msg = feats[idx].reshape(len(df), -1)
    order = _time_order(t, path, warn_unsorted)
    extra: dict[str, np.ndarray] = {"y": y}
    if node_feat is not None:
        extra["x"] = node_feat[1:].reshape(node_feat.shape[0] - 1, -1).astype(np.float32)
    return _temporal(u - 1, i - 1, t, msg, order, **extra)


def _load_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataFormatError(path, f"not a valid .npy array ({err})") from err
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise DataFormatError(path, f"expected a non-empty array, found shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)))[0, 0])
        raise DataFormatError(path, f"non-finite value in array row {row}")
    return arr


# ---------------------------------------------------------------------------------------------
# Planetoid
# ---------------------------------------------------------------------------------------------


class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickles only the numpy/scipy containers the Planetoid files are made of."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "defaultdict"),
        ("__builtin__", "list"),
        ("builtins", "list"),
        ("__builtin__", "set"),
        ("builtins", "set"),
        ("__builtin__", "object"),
        ("builtins", "object"),
        ("copy_reg", "_reconstructor"),  # object.__new__ of an allowed class only
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),  # how Python 3 protocol-2 pickles store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        if module.startswith("scipy.sparse") and name.endswith("_matrix"):
            import scipy.sparse  # old pickles name private modules (scipy.sparse.csr)

            return getattr(scipy.sparse, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _planetoid_names(folder: Path) -> list[str]:
    return sorted({p.name[4:-6] for p in folder.glob("ind.*.graph")})


def _planetoid_pickle(path: Path) -> Any:
    _require_file(path)
    try:
        with open(path, "rb") as f:
            return _PlanetoidUnpickler(f, encoding="latin1").load()
    except Exception as err:  # any unpickling failure means the file is not what it claims
        raise DataFormatError(path, f"not a valid Planetoid pickle ({err})") from err


def _dense(obj: Any, path: Path) -> Tensor:
    arr = obj.toarray() if hasattr(obj, "toarray") else np.asarray(obj)
    if arr.ndim != 2:
        raise DataFormatError(path, f"expected a 2-D matrix, found shape {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataFormatError(path, f"non-finite value in matrix row {row}")
    return torch.from_numpy(arr)


def read_planetoid(folder: PathLike, name: str | None = None) -> Data:
    r"""Read a Planetoid citation graph (Yang et al., ICML 2016): ``ind.<name>.*`` files.

    Output equals ``torch_geometric.datasets.Planetoid(root, name)[0]`` (same edge order). The
    non-contiguous test indices of CiteSeer (isolated test nodes without features) are filled with
    zero rows as PyG does; the fix is applied whenever the test index range is longer than
    ``tx``, so it needs no name. The pickles are read with an unpickler that only builds
    numpy/scipy containers.

    Args:
        folder (str or os.PathLike): folder holding ``ind.<name>.{x,tx,allx,y,ty,ally,graph,
            test.index}``.
        name (str, optional): the ``<name>`` part; inferred when the folder holds one data set.
            (default: :obj:`None`)

    Returns:
        Data: ``x`` float ``[N, F]``, ``edge_index`` ``[2, E]`` (undirected, coalesced, no self
        loops), ``y`` ``[N]``, ``train_mask``/``val_mask``/``test_mask`` (the first
        ``len(y)`` nodes, the next 500, the test index).
    """
    folder = _require_dir(folder)
    if name is None:
        names = _planetoid_names(folder)
        if len(names) != 1:
            raise DataFormatError(
                folder,
                "cannot infer the Planetoid name: "
                + (f"several data sets {names}; pass name=" if names else "no ind.<name>.graph"),
            )
        name = names[0]
    prefix = name.lower()
    parts = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]
    paths = {p: folder / f"ind.{prefix}.{p}" for p in parts}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise FileNotFoundError("Planetoid files not found: " + ", ".join(missing))

    x, tx, allx = (_dense(_planetoid_pickle(paths[k]), paths[k]) for k in ("x", "tx", "allx"))
    y, ty, ally = (_dense(_planetoid_pickle(paths[k]), paths[k]) for k in ("y", "ty", "ally"))
    graph = _planetoid_pickle(paths["graph"])
    if not isinstance(graph, dict):
        raise DataFormatError(paths["graph"], f"expected a dict of adjacency lists, found "
                                              f"{type(graph).__name__}")
    df, lines = _read_table(paths["test.index"], sep=r"\s+", ncols=(1,), names=["index"],
                            what="test indices")
    test_index = torch.from_numpy(_int_ids(df, "index", lines, paths["test.index"],
                                           what="test index"))

    for a, b in (("x", "y"), ("allx", "ally"), ("tx", "ty")):
        ra = {"x": x, "allx": allx, "tx": tx}[a].size(0)
        rb = {"y": y, "ally": ally, "ty": ty}[b].size(0)
        if ra != rb:
            raise DataFormatError(paths[b], f"has {rb} rows but ind.{prefix}.{a} has {ra}")
    if tx.size(0) != test_index.numel():
        raise DataFormatError(
            paths["test.index"], f"has {test_index.numel()} indices but tx has {tx.size(0)} rows"
        )
    if not (x.size(1) == tx.size(1) == allx.size(1)):
        raise DataFormatError(paths["tx"], "x, tx and allx have different feature dimensions")

    sorted_test_index, order = test_index.sort(stable=True)
    dup = sorted_test_index[1:] == sorted_test_index[:-1]
    if dup.any():
        i = int(order[1:][dup][0])
        raise DataFormatError(paths["test.index"], f"test index {int(test_index[i])} appears "
                                                   "twice", row=int(lines[i]))
    graph_nodes = max(len(graph), max((int(k) for k in graph), default=-1) + 1)
    labelled = allx.size(0) + tx.size(0)
    # the graph's keys are the nodes when it lists them all (the published files do); a
    # shorter adjacency dict still bounds the isolated test nodes to as many as are labelled
    limit = graph_nodes if graph_nodes >= labelled else 2 * labelled
    high = int(test_index.max())
    if high >= limit:
        i = int(test_index.argmax())
        raise DataFormatError(paths["test.index"], f"test index {high} is past the {limit} "
                                                   f"nodes of ind.{prefix}.graph",
                              row=int(lines[i]))
    lo = int(test_index.min())
    span = high - lo + 1
    if lo < allx.size(0):
        raise DataFormatError(
            paths["test.index"], f"test index {lo} overlaps the {allx.size(0)} allx rows"
        )
    if span != tx.size(0):  # isolated test nodes (CiteSeer): zero rows, as PyG does
        tx_ext = torch.zeros(span, tx.size(1), dtype=tx.dtype)
        tx_ext[sorted_test_index - lo] = tx
        ty_ext = torch.zeros(span, ty.size(1), dtype=ty.dtype)
        ty_ext[sorted_test_index - lo] = ty
        tx, ty = tx_ext, ty_ext

    feats = torch.cat([allx, tx], dim=0)
    feats[test_index] = feats[sorted_test_index]
    labels = torch.cat([ally, ty], dim=0).max(dim=1)[1]
    labels[test_index] = labels[sorted_test_index]
    num_nodes = labels.size(0)

    keys = np.fromiter(graph.keys(), dtype=np.int64, count=len(graph))
    lengths = np.fromiter((len(v) for v in graph.values()), dtype=np.int64, count=len(graph))
    row = np.repeat(keys, lengths)
    col = np.fromiter(itertools.chain.from_iterable(graph.values()), dtype=np.int64,
                      count=int(lengths.sum()))
    bad = (row < 0) | (row >= num_nodes) | (col < 0) | (col >= num_nodes)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(
            paths["graph"], f"edge ({row[k]}, {col[k]}) has a node id outside [0, {num_nodes})"
        )
    edge_index = torch.from_numpy(np.stack([row, col]))
    edge_index, _ = remove_self_loops(edge_index)
    # PyG orders Planetoid edges by column (sort_by_row=False); keep it for bit-exact splits.
    edge_index = coalesce(edge_index, num_nodes=num_nodes, sort_by_row=False)
    fwd = edge_index[0] * num_nodes + edge_index[1]
    bwd = edge_index[1] * num_nodes + edge_index[0]
    if not torch.equal(fwd.sort()[0], bwd.sort()[0]):  # one-way adjacency lists: symmetrise
        edge_index = coalesce(torch.cat([edge_index, edge_index.flip(0)], 1),
                              num_nodes=num_nodes, sort_by_row=False)

    n_train = y.size(0)
    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    train_mask[:n_train] = True
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask[n_train : min(n_train + 500, num_nodes)] = True
    test_mask = torch.zeros(num_nodes, dtype=torch.bool)
    test_mask[test_index] = True
    return Data(x=feats, edge_index=edge_index, y=labels, train_mask=train_mask,
                val_mask=val_mask, test_mask=test_mask)


# ---------------------------------------------------------------------------------------------
# OGB link property prediction
# ---------------------------------------------------------------------------------------------

# add_inverse_edge per OGB dataset (ogb/linkproppred/master.csv), for folders read without a card.
_OGB_INVERSE = {"ogbl-ppa": True, "ogbl-collab": True, "ogbl-ddi": True,
                "ogbl-citation2": False, "ogbl-vessel": False, "ogbl-wikikg2": False}


def _safe_torch_load(path: Path) -> Any:
    """Load a legacy OGB ``.pt`` (pickled dict of numpy arrays) without arbitrary unpickling."""
    from numpy._core.multiarray import _reconstruct

    allowed = [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
    ] + [type(np.dtype(c)) for c in "bBhHiIlLqQefdg?"]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unpickling failure means the file is not what it claims
        raise DataFormatError(path, f"cannot load the split file ({err})") from err


def _ogb_name(folder: Path) -> str:
    base = folder.name[:-4] if folder.name.endswith("_pyg") else folder.name
    return base.replace("_", "-")


def _edge_pairs(value: Any, path: Path, key: str, num_nodes: int) -> Tensor:
    arr = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
        raise DataFormatError(
            path, f"{key!r}: expected an integer array of shape [E, 2], found "
                  f"{arr.dtype} {tuple(arr.shape)}"
        )
    bad = (arr < 0) | (arr >= num_nodes)
    if bad.any():
        i = int(np.argwhere(bad)[0, 0])
        raise DataFormatError(
            path, f"{key!r}: row {i} {arr[i].tolist()} has a node id outside [0, {num_nodes})"
        )
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))


def read_ogb_linkprop(
    folder: PathLike,
    *,
    split: str | None = None,
    add_inverse_edge: bool | None = None,
) -> LinkPropDataset:
    r"""Read an OGB link-property-prediction folder (Hu et al., NeurIPS 2020) without ``ogb``.

    Layout (what ``PygLinkPropPredDataset`` keeps under ``dataset/ogbl_<name>/``)::

        raw/edge.csv.gz, raw/num-node-list.csv.gz, [raw/num-edge-list.csv.gz,
        raw/node-feat.csv.gz, raw/edge-feat.csv.gz, raw/node_*.csv.gz, raw/edge_*.csv.gz]
        split/<kind>/{train,valid,test}.pt  (or split/<kind>/split_dict.pt)

    ``split_edge`` equals ``get_edge_split()``: numpy arrays become tensors, pairs stay
    ``[E, 2]``. The ``.pt`` files are legacy ``torch.save`` pickles of dicts of numpy arrays; they
    are loaded with ``weights_only=True`` and an allow-list of numpy types. When ``train.pt`` is
    absent (as in the shipped ogbl-ddi copy) ``train`` is rebuilt from ``raw/edge.csv.gz``, which
    OGB builds from the train edges: ``{'edge': [E, 2]}`` plus one key per ``edge_<key>`` file.

    Args:
        folder (str or os.PathLike): the dataset folder (holding ``raw/`` and ``split/``).
        split (str, optional): the split kind (``split/<kind>``); inferred when there is one.
            (default: :obj:`None`)
        add_inverse_edge (bool, optional): add each edge's reverse to ``data.edge_index``, as OGB
            does for ppa/collab/ddi. :obj:`None` looks the folder name up in OGB's table and
            falls back to :obj:`True`. (default: :obj:`None`)

    Returns:
        LinkPropDataset: ``(data, split_edge)``.
    """
    folder = _require_dir(folder)
    raw = folder / "raw"
    edge_path = raw / "edge.csv.gz"
    if not edge_path.exists():
        raise FileNotFoundError(f"{edge_path}: file not found (OGB layout needs raw/edge.csv.gz)")
    nn_path = raw / "num-node-list.csv.gz"
    if not nn_path.exists():
        raise FileNotFoundError(f"{nn_path}: file not found")
    if add_inverse_edge is None:
        add_inverse_edge = _OGB_INVERSE.get(_ogb_name(folder), True)

    ndf, nlines = _read_table(nn_path, sep=",", ncols=(1,), names=["num_nodes"], what="graphs")
    if len(ndf) != 1:
        raise DataFormatError(nn_path, f"expected one graph, found {len(ndf)} rows")
    num_nodes = int(_int_ids(ndf, "num_nodes", nlines, nn_path, low=1, what="node count")[0])
    edf, elines = _read_table(edge_path, sep=",", ncols=(2,), names=["src", "dst"], what="edges")
    src = _int_ids(edf, "src", elines, edge_path, high=num_nodes - 1)
    dst = _int_ids(edf, "dst", elines, edge_path, high=num_nodes - 1)
    ne_path = raw / "num-edge-list.csv.gz"
    if ne_path.exists():
        cdf, clines = _read_table(ne_path, sep=",", ncols=(1,), names=["num_edges"])
        declared = int(_int_ids(cdf, "num_edges", clines, ne_path, what="edge count")[0])
        if declared != src.size:
            raise DataFormatError(ne_path, f"declares {declared} edges but {edge_path.name} "
                                           f"has {src.size}")

    pairs = np.stack([src, dst])
    if add_inverse_edge:  # OGB interleaves (u, v), (v, u)
        edge_index = np.repeat(pairs, 2, axis=1)
        edge_index[0, 1::2] = pairs[1]
        edge_index[1, 1::2] = pairs[0]
    else:
        edge_index = pairs
    data = Data(num_nodes=num_nodes, edge_index=torch.from_numpy(edge_index))

    def extra(path: Path, rows: int) -> np.ndarray:
        df, _ = _read_table(path, sep=",")
        arr = df.to_numpy()
        if len(arr) != rows:
            raise DataFormatError(path, f"has {len(arr)} rows, expected {rows}")
        return arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float32)

    def per_edge(arr: np.ndarray) -> np.ndarray:
        return np.repeat(arr, 2, axis=0) if add_inverse_edge else arr

    if (raw / "node-feat.csv.gz").exists():
        data.x = torch.from_numpy(extra(raw / "node-feat.csv.gz", num_nodes))
    if (raw / "edge-feat.csv.gz").exists():
        data.edge_attr = torch.from_numpy(per_edge(extra(raw / "edge-feat.csv.gz", src.size)))
    train_extra: dict[str, np.ndarray] = {}
    for p in sorted(raw.glob("node_*.csv.gz")):
        data[p.name[: -len(".csv.gz")]] = torch.from_numpy(extra(p, num_nodes))
    for p in sorted(raw.glob("edge_*.csv.gz")):
        key = p.name[: -len(".csv.gz")]
        arr = extra(p, src.size)
        train_extra[key[len("edge_"):]] = arr.reshape(-1) if arr.shape[1] == 1 else arr
        data[key] = torch.from_numpy(per_edge(arr))

    split_root = folder / "split"
    if split is None:
        kinds = sorted(p.name for p in split_root.iterdir() if p.is_dir()) if (
            split_root.is_dir()) else []
        if not kinds:
            raise FileNotFoundError(f"{split_root}: no split/<kind> folder")
        if len(kinds) > 1:
            raise DataFormatError(split_root, f"several splits {kinds}; pass split=")
        split = kinds[0]
    sdir = split_root / split
    if (sdir / "split_dict.pt").exists():
        raw_split = _safe_torch_load(sdir / "split_dict.pt")
        parts = {k: (sdir / "split_dict.pt", raw_split[k]) for k in ("train", "valid", "test")}
    else:
        parts = {}
        for k in ("train", "valid", "test"):
            p = sdir / f"{k}.pt"
            if p.exists():
                parts[k] = (p, _safe_torch_load(p))
            elif k != "train":
                raise FileNotFoundError(f"{p}: file not found")
    split_edge: dict[str, dict[str, Tensor]] = {}
    for k, (p, d) in parts.items():
        if not isinstance(d, dict):
            raise DataFormatError(p, f"expected a dict of arrays, found {type(d).__name__}")
        out: dict[str, Tensor] = {}
        for key, value in d.items():
            if key in ("edge", "edge_neg"):
                out[key] = _edge_pairs(value, p, key, num_nodes)
            elif isinstance(value, np.ndarray):
                out[key] = torch.from_numpy(value)
            else:
                out[key] = value
        if k != "train" and not ({"edge_neg", "target_node_neg"} & set(out)):
            raise DataFormatError(p, f"the {k} split has no negatives ('edge_neg' or "
                                     f"'target_node_neg'); found keys {sorted(out)}")
        split_edge[k] = out
    if "train" not in split_edge:
        train = {"edge": torch.from_numpy(np.ascontiguousarray(pairs.T))}
        train.update({k: torch.from_numpy(v) for k, v in train_extra.items()})
        split_edge = {"train": train, **split_edge}
    return LinkPropDataset(data=data, split_edge=split_edge)


# ---------------------------------------------------------------------------------------------
# TU graph collections
# ---------------------------------------------------------------------------------------------


def _tu_folder(folder: Path, name: str | None) -> tuple[Path, str]:
    folder = _require_dir(folder)
    for cand in (folder, folder / "raw"):
        if name is not None:
            if (cand / f"{name}_A.txt").exists():
                return cand, name
        elif cand.is_dir():
            names = sorted(p.name[:-6] for p in cand.glob("*_A.txt"))
            if len(names) == 1:
                return cand, names[0]
            if len(names) > 1:
                raise DataFormatError(cand, f"several TU data sets {names}; pass name=")
    what = f"{name}_A.txt" if name else "<NAME>_A.txt"
    raise FileNotFoundError(f"{folder}: no {what} here or in {folder / 'raw'}")


def _tu_one_hot(labels: np.ndarray) -> Tensor:
    lab = torch.from_numpy(labels.reshape(labels.shape[0], -1))
    lab = lab - lab.min(dim=0)[0]
    hots = [one_hot(c) for c in lab.unbind(dim=-1)]
    return hots[0] if len(hots) == 1 else torch.cat(hots, dim=-1)


def read_tu(
    folder: PathLike,
    name: str | None = None,
    *,
    use_node_attr: bool = False,
    use_edge_attr: bool = False,
) -> list[Data]:
    r"""Read a TU graph collection (Morris et al., 2020): ``<NAME>_A.txt`` and friends.

    Returns one :class:`Data` per graph, equal to ``TUDataset(root, name, use_node_attr=...,
    use_edge_attr=...)[i]``: node labels one-hot encoded (after subtracting their minimum) into
    ``x``, edge labels into ``edge_attr``, continuous attributes in front of them only when asked
    for, self loops removed, duplicate edges coalesced (edge features summed, as PyG does),
    graph labels mapped to ``0..C-1`` in sorted order (``graph_attributes`` give float ``y``).
    Graphs without node features carry ``num_nodes``.

    Args:
        folder (str or os.PathLike): the folder with the ``.txt`` files, or its parent holding
            ``raw/``.
        name (str, optional): the ``<NAME>`` prefix; inferred when the folder holds one data set.
            (default: :obj:`None`)
        use_node_attr (bool, optional): keep ``node_attributes`` in ``x``. (default: :obj:`False`)
        use_edge_attr (bool, optional): keep ``edge_attributes`` in ``edge_attr``.
            (default: :obj:`False`)
    """
    folder, name = _tu_folder(Path(folder), name)

    def path(part: str) -> Path:
        return folder / f"{name}_{part}.txt"

    ind_path = path("graph_indicator")
    if not ind_path.exists():
        raise FileNotFoundError(f"{ind_path}: file not found")
    idf, ilines = _read_table(ind_path, sep=",", ncols=(1,), names=["graph"], what="nodes")
    batch = _int_ids(idf, "graph", ilines, ind_path, low=1, what="graph id") - 1
    bad = np.diff(batch) < 0
    if bad.any():
        i = int(np.argmax(bad)) + 1
        raise DataFormatError(ind_path, "graph ids must be non-decreasing (nodes grouped by "
                                        "graph)", row=int(ilines[i]))
    n = batch.size
    num_graphs = int(batch[-1]) + 1
    counts = np.bincount(batch, minlength=num_graphs)
    if (counts == 0).any():
        g = int(np.argmax(counts == 0)) + 1
        raise DataFormatError(ind_path, f"graph ids must run 1..{num_graphs} without gaps: "
                                        f"graph {g} has no nodes")

    adf, alines = _read_table(path("A"), sep=",", ncols=(2,), names=["src", "dst"], what="edges")
    row = _int_ids(adf, "src", alines, path("A"), low=1, high=n) - 1
    col = _int_ids(adf, "dst", alines, path("A"), low=1, high=n) - 1
    cross = batch[row] != batch[col]
    if cross.any():
        i = int(np.argmax(cross))
        raise DataFormatError(path("A"), f"edge joins graphs {batch[row[i]] + 1} and "
                                         f"{batch[col[i]] + 1}", row=int(alines[i]))
    e = row.size

    def table(part: str, rows: int, kind: str) -> np.ndarray | None:
        p = path(part)
        if not p.exists():
            return None
        df, lines = _read_table(p, sep=",", what=kind)
        if len(df) != rows:
            raise DataFormatError(p, f"has {len(df)} rows, expected {rows} (one per {kind})")
        if part.endswith("labels"):
            return np.stack([_int_ids(df, c, lines, p, low=-(2**62), what="label")
                             for c in df.columns], axis=1)
        return np.array(df.to_numpy(dtype=np.float32))  # writable copy for torch

    node_attr = table("node_attributes", n, "node")
    node_lab = table("node_labels", n, "node")
    edge_attr = table("edge_attributes", e, "edge")
    edge_lab = table("edge_labels", e, "edge")
    graph_attr = table("graph_attributes", num_graphs, "graph")
    graph_lab = table("graph_labels", num_graphs, "graph")

    na = torch.empty(n, 0) if node_attr is None else torch.from_numpy(node_attr)
    nl = torch.empty(n, 0) if node_lab is None else _tu_one_hot(node_lab)
    ea = torch.empty(e, 0) if edge_attr is None else torch.from_numpy(edge_attr)
    el = torch.empty(e, 0) if edge_lab is None else _tu_one_hot(edge_lab)
    x = _cat_nonempty([na, nl])
    eattr = _cat_nonempty([ea, el])
    y = None
    if graph_attr is not None:
        y = torch.from_numpy(graph_attr).squeeze()
    elif graph_lab is not None:
        y = torch.unique(torch.from_numpy(graph_lab).squeeze(-1), sorted=True,
                         return_inverse=True)[1]

    edge_index = torch.from_numpy(np.stack([row, col]))
    edge_index, eattr = remove_self_loops(edge_index, eattr)
    num = x.size(0) if x is not None else (int(edge_index.max()) + 1 if e else n)
    edge_index, eattr = coalesce(edge_index, eattr, num)
    # TUDataset drops the continuous attributes unless asked (they come first in x / edge_attr).
    if x is not None and not use_node_attr:
        x = x[:, na.size(1):]
    if eattr is not None and not use_edge_attr:
        eattr = eattr[:, ea.size(1):]

    batch_t = torch.from_numpy(batch)
    node_counts = torch.bincount(batch_t, minlength=num_graphs)
    node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), node_counts.cumsum(0)])
    edge_counts = torch.bincount(batch_t[edge_index[0]], minlength=num_graphs)
    edge_index = edge_index - node_ptr[batch_t[edge_index[0]]].unsqueeze(0)
    ncl, ecl = node_counts.tolist(), edge_counts.tolist()
    ei_parts = edge_index.split(ecl, dim=1)
    x_parts = x.split(ncl) if x is not None else None
    ea_parts = eattr.split(ecl) if eattr is not None else None
    node_level_y = y is not None and y.dim() > 0 and y.size(0) == n and n != num_graphs
    y_parts = (y.split(ncl) if node_level_y else y.view(num_graphs, -1).squeeze(-1)
               .split(1)) if y is not None else None
    graphs = []
    for g in range(num_graphs):  # one Data per graph; a loop over graphs, not nodes or edges
        d = Data(edge_index=ei_parts[g])
        if x_parts is not None:
            d.x = x_parts[g]
        else:
            d.num_nodes = ncl[g]
        if ea_parts is not None:
            d.edge_attr = ea_parts[g]
        if y_parts is not None:
            d.y = y_parts[g]
        graphs.append(d)
    return graphs


def _cat_nonempty(parts: list[Tensor]) -> Tensor | None:
    parts = [p for p in parts if p.numel() > 0]
    return torch.cat(parts, dim=-1) if parts else None


# ---------------------------------------------------------------------------------------------
# IDX (MNIST)
# ---------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx_file(path: Path) -> Tensor:
    path = _require_file(path)
    try:
        raw = gzip.open(path, "rb").read() if _is_gzip(path) else path.read_bytes()
    except _READ_ERRORS as err:
        raise DataFormatError(path, f"cannot decompress the file ({err})") from err
    if len(raw) < 4:
        raise DataFormatError(path, f"too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFormatError(path, f"bad IDX magic number 0x{raw[:4].hex()} (expected "
                                    "0x0000TTNN: type code TT, NN dimensions)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataFormatError(path, f"truncated IDX header ({ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise DataFormatError(path, f"IDX body has {body} bytes, expected {expected} for shape "
                                    f"{shape} of {dtype.name}")
    arr = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))


def _idx_key(name: str) -> str:
    stem = re.sub(r"(\.gz)?$", "", name)
    stem = re.sub(r"[-.]idx\d-ubyte$", "", stem)
    stem = stem.replace("t10k", "test")
    return stem.replace("-", "_").replace(".", "_")


def read_idx(path: PathLike) -> Tensor | dict[str, Tensor]:
    r"""Read IDX files (LeCun's MNIST format), gzipped or not.

    The magic number (``0x00 0x00 <type> <ndim>``) and the body length are checked. A file gives
    one tensor of its type (``uint8`` for MNIST); a folder gives a dict keyed by the file name
    with ``t10k`` read as ``test`` (``train_images``, ``train_labels``, ``test_images``,
    ``test_labels`` for MNIST).

    Args:
        path (str or os.PathLike): an IDX file or a folder of ``*-idx?-ubyte[.gz]`` files.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found")
    if not path.is_dir():
        return _read_idx_file(path)
    files = sorted(p for p in path.iterdir() if re.search(r"idx\d-ubyte(\.gz)?$", p.name))
    if not files:
        raise FileNotFoundError(f"{path}: no *-idx?-ubyte[.gz] files here")
    out: dict[str, Tensor] = {}
    for p in files:
        key = _idx_key(p.name)
        if key in out:
            raise DataFormatError(path, f"both {p.name} and another file give {key!r}")
        out[key] = _read_idx_file(p)
    for key in [k for k in out if k.endswith("_images")]:
        labels = key[: -len("images")] + "labels"
        if labels not in out:
            raise DataFormatError(path, f"{key} has no {labels} file next to it")
        if out[labels].size(0) != out[key].size(0):
            raise DataFormatError(path, f"{key} has {out[key].size(0)} items but {labels} has "
                                        f"{out[labels].size(0)}")
    return out


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

FORMATS = {
    "planetoid": read_planetoid,
    "ogb-linkprop": read_ogb_linkprop,
    "snap-signed": read_snap_signed,
    "snap-temporal": read_snap_temporal,
    "jodie": read_jodie,
    "ml": read_ml,
    "tu": read_tu,
    "idx": read_idx,
    "npz": read_npz,
}  # graphcl.data.edgelist adds "edgelist" (it builds on this module's text helpers)


def _normalise_format(fmt: str) -> str:
    key = fmt.strip().lower().replace("_", "-")
    key = {"ogb": "ogb-linkprop", "ogbl": "ogb-linkprop", "tudataset": "tu",
           "mnist": "idx", "csv": "edgelist", "edge-list": "edgelist",
           "citationfull": "npz"}.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    return key


def _folder_formats(path: Path) -> list[str]:
    found = []
    if _planetoid_names(path):
        found.append("planetoid")
    if (path / "raw" / "edge.csv.gz").exists():
        found.append("ogb-linkprop")
    if any(path.glob("*_A.txt")) or any((path / "raw").glob("*_A.txt")):
        found.append("tu")
    if any(re.search(r"idx\d-ubyte(\.gz)?$", p.name) for p in path.iterdir()):
        found.append("idx")
    if any(path.glob("ml_*.csv")):
        found.append("ml")
    if any(path.glob("*.npz")):
        found.append("npz")
    return found


def infer_format(path: PathLike) -> str:
    r"""Guess the format of a file or folder from its names and first lines.

    Folders: ``ind.*.graph`` → planetoid, ``raw/edge.csv.gz`` → ogb-linkprop, ``*_A.txt`` → tu,
    ``*-idx?-ubyte`` → idx, ``ml_*.csv`` → ml. Files: ``ml_*.csv`` → ml, IDX magic → idx, a
    header line with ≥ 4 columns → jodie, four numeric columns → snap-signed, three columns whose
    third holds only ±1 (or a ``#`` header naming a sign) → snap-signed, else snap-temporal.

    Raises:
        ValueError: when the guess is ambiguous or nothing matches; pass ``format=``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found")
    if path.is_dir():
        found = _folder_formats(path)
        if not found and (path / "raw").is_dir():  # a PyG dataset folder: <root>/<Name>/raw
            found = _folder_formats(path / "raw")
        if len(found) != 1:
            raise ValueError(
                f"{path}: cannot infer the format "
                + (f"(matches {found})" if found else "(no known files)")
                + f"; pass format= one of {sorted(FORMATS)}"
            )
        return found[0]
    if re.fullmatch(r"ml_.+\.csv(\.gz)?", path.name):
        return "ml"
    if path.suffix == ".npz":
        return "npz"
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            try:
                magic = f.read(4)
            except _READ_ERRORS:
                magic = b""
    if len(magic) == 4 and magic[:2] == b"\x00\x00" and magic[2] in _IDX_DTYPES:
        return "idx"
    comments = _leading_comments(path)
    lines = [ln for ln in _head_lines(path, len(comments) + 200)[len(comments):] if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: cannot infer the format of an empty file; pass format=")
    sep = _sniff_sep(lines[0])
    fields = _split_fields(lines[0].strip(), sep)
    if _has_header(lines[0], sep):
        if len(fields) >= 4:
            return "jodie"
        raise ValueError(f"{path}: cannot infer the format from header {lines[0]!r}; pass format=")
    if len(fields) == 4:
        return "snap-signed"
    if len(fields) == 3:
        if any("sign" in c.lower() for c in comments):
            return "snap-signed"
        thirds = {_split_fields(ln.strip(), sep)[-1] for ln in lines}
        if thirds <= {"1", "-1", "+1"}:
            return "snap-signed"
        return "snap-temporal"
    raise ValueError(f"{path}: cannot infer the format ({len(fields)} columns); pass format=")


def read(path: PathLike, format: str | None = None, **kw: Any) -> Any:
    r"""Read any supported file or folder; see the module docstring for the formats.

    Args:
        path (str or os.PathLike): the file or folder.
        format (str, optional): one of :data:`FORMATS` (``'planetoid'``, ``'ogb-linkprop'``,
            ``'snap-signed'``, ``'snap-temporal'``, ``'jodie'``, ``'ml'``, ``'tu'``, ``'idx'``);
            inferred by :func:`infer_format` when :obj:`None`. (default: :obj:`None`)
        **kw: passed to the reader (e.g. ``name=`` for planetoid/tu, ``warn_unsorted=``).
    """
    fmt = infer_format(path) if format is None else _normalise_format(format)
    return FORMATS[fmt](_dataset_folder(Path(path), fmt), **kw)


_FOLDER_FORMATS = ("planetoid", "ogb-linkprop", "tu", "idx", "ml", "npz")


def _dataset_folder(path: Path, fmt: str) -> Path:
    r"""A PyG dataset folder ``<root>/<Name>`` holds its files in ``raw/``: read those (when the
    folder itself has none of the format's files)."""
    if fmt in _FOLDER_FORMATS and path.is_dir() and (path / "raw").is_dir() and (
            fmt not in _folder_formats(path) and fmt in _folder_formats(path / "raw")):
        return path / "raw"
    return path
