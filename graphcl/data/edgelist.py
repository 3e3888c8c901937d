r"""A generic delimited edge list, static or temporal: a user's own CSV through every method.

:func:`read_edgelist` takes any delimited text file (``,``, tab or whitespace; gzipped or not;
leading ``#`` comment lines skipped) with one edge or event per row. Columns are chosen by name
(when the file has a header line) or by 0-based position: ``src``, ``dst`` and optionally
``time``, ``weight`` and ``sign``. Node ids may be integers or arbitrary strings; they are
mapped to contiguous integers ``0..N-1`` (in sorted order of the original ids) and the mapping
is kept (``node_ids``: the original integer ids, or ``node_names``: the strings).

With a ``time`` column the result is a :class:`~torch_geometric.data.TemporalData` sorted by
time (stable; a warning when the file was not sorted) with ``msg`` ``[E, 0]`` and the optional
per-event ``weight`` / ``sign``; without one it is a :class:`~torch_geometric.data.Data` with
``edge_index`` (as listed: one direction per row) and ``edge_weight`` / ``sign``.

Without explicit columns: a header names them (``src|source|from|u|user|node1``,
``dst|target|to|v|item|node2``, ``t|time|timestamp|ts|unix_time|when``,
``weight|w|rating|value``, ``sign|label``), and otherwise the columns go by position: ``src
dst`` (2 columns), ``src dst time`` (3), ``src dst time weight`` (4 or more). Pass
``time=False`` for a static graph with more columns.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data, TemporalData

from graphcl.data.errors import DataFormatError
from graphcl.data.readers import (
    FORMATS,
    _check_line_endings,
    _head_lines,
    _is_gzip,
    _leading_comments,
    _line_text,
    _remap,
    _sniff_sep,
    _split_fields,
    _time_order,
    _unreadable,
)

__all__ = ["read_edgelist", "COLUMN_NAMES"]

COLUMN_NAMES = {
    "src": ("src", "source", "from", "u", "user", "node1", "source_node", "i"),
    "dst": ("dst", "target", "to", "v", "item", "node2", "target_node", "j"),
    "time": ("t", "time", "timestamp", "ts", "unix_time", "date", "when"),
    "weight": ("weight", "w", "rating", "value"),
    "sign": ("sign", "label"),
}
Column = int | str | None


def _numeric(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _column(spec: Column, role: str, names: list[str] | None, ncols: int, path: Path) -> int | None:
    if spec is None:
        return None
    if isinstance(spec, bool):
        raise ValueError(f"{role}: expected a column name or 0-based position, got {spec!r}")
    if isinstance(spec, int):
        if not 0 <= spec < ncols:
            raise DataFormatError(path, f"{role} column {spec} does not exist: the file has "
                                        f"{ncols} columns (0-based positions)")
        return spec
    if names is None:
        raise DataFormatError(path, f"{role} column {spec!r} named, but the file has no header")
    low = [n.lower() for n in names]
    if spec.lower() not in low:
        raise DataFormatError(path, f"no column named {spec!r} for {role}; header: {names}")
    return low.index(spec.lower())


def _auto(names: list[str] | None, ncols: int) -> dict[str, int | None]:
    if names is not None:
        low = [n.strip().lower() for n in names]
        found = {role: next((low.index(a) for a in aliases if a in low), None)
                 for role, aliases in COLUMN_NAMES.items()}
        if found["src"] is None or found["dst"] is None:
            found["src"], found["dst"] = 0, 1
        # roles the header does not name take their positional column, if no role claims it
        claimed = {c for c in found.values() if c is not None}
        for role, pos in (("time", 2), ("weight", 3)):
            if found[role] is None and pos < ncols and pos not in claimed:
                found[role] = pos
                claimed.add(pos)
        return found
    return {"src": 0, "dst": 1, "time": 2 if ncols >= 3 else None,
            "weight": 3 if ncols >= 4 else None, "sign": None}


def _ids(col: pd.Series, lines: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, bool]:
    r"""Integer ids when every value is an integer, else the strings."""
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all() and (num == np.floor(num)).all():
        v = num.to_numpy()
        if (v < 0).any():
            i = int(np.argmax(v < 0))
            raise DataFormatError(path, f"negative node id {v[i]:g}", row=int(lines[i]),
                                  column=what)
        return v.astype(np.int64), True
    return col.to_numpy(dtype=str), False


def _numbers(col: pd.Series, lines: np.ndarray, path: Path, what: str) -> np.ndarray:
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna().to_numpy() | ~np.isfinite(num.to_numpy(dtype=np.float64))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFormatError(path, f"non-numeric or non-finite value {col.iloc[i]!r}",
                              row=int(lines[i]), column=what)
    return num.to_numpy()


def read_edgelist(
    path: str | os.PathLike,
    *,
    src: Column = None,
    dst: Column = None,
    time: Column | bool = None,
    weight: Column | bool = None,
    sign: Column | bool = None,
    sep: str | None = None,
    header: bool | None = None,
    warn_unsorted: bool = True,
) -> Data | TemporalData:
    r"""Reads a delimited edge list (see the module docstring).

    Args:
        path (str or os.PathLike): the file.
        src, dst (int or str, optional): columns of the endpoints (position or header name).
            (default: detected)
        time, weight, sign (int, str or bool, optional): their columns; ``False`` for none,
            ``None`` to detect. (default: ``None``)
        sep (str, optional): the delimiter (default: ``,`` / tab / whitespace, sniffed).
        header (bool, optional): whether the first data line is a header (default: detected:
            a first line whose fields are all non-numeric while the second line has a number,
            or that names known columns).
        warn_unsorted (bool, optional): warn when events had to be sorted by time.

    Raises:
        DataFormatError: a row with a missing field, a non-numeric time/weight, a sign other
            than ±1, a negative timestamp; the file and 1-based line are named.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    _check_line_endings(path)
    skip = len(_leading_comments(path))
    head = [ln for ln in _head_lines(path, skip + 3)[skip:] if ln.strip()]
    if not head:
        raise DataFormatError(path, "the file is empty (no edges)")
    sep = sep or _sniff_sep(head[0])
    first = _split_fields(head[0].strip(), sep)
    if header is None:
        known = {a for aliases in COLUMN_NAMES.values() for a in aliases}
        second_numeric = len(head) > 1 and any(_numeric(v) for v in _split_fields(
            head[1].strip(), sep))
        header = (not any(_numeric(v) for v in first) and second_numeric) or (
            sum(f.strip().lower() in known for f in first) >= 2)
    try:
        df = pd.read_csv(path, sep=sep, header=None, dtype=str, skiprows=skip + int(header),
                         skip_blank_lines=False, keep_default_na=False,
                         compression="gzip" if _is_gzip(path) else None,
                         engine="c" if sep != r"\s+" else "python")
    except pd.errors.EmptyDataError as err:
        raise DataFormatError(path, "no edges after the header") from err
    except pd.errors.ParserError as err:
        raise DataFormatError(path, f"rows with different numbers of fields ({err})") from err
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise _unreadable(path, err) from err
    lines = np.arange(len(df), dtype=np.int64) + skip + int(header) + 1
    df = df.apply(lambda c: c.str.strip())
    blank = (df == "").all(axis=1).to_numpy()
    df, lines = df.loc[~blank].reset_index(drop=True), lines[~blank]
    if len(df) == 0:
        raise DataFormatError(path, "no edges")
    ncols = df.shape[1]
    names = first if header else None
    if names is not None and len(names) != ncols:
        raise DataFormatError(path, f"the header has {len(names)} fields, the rows {ncols}",
                              row=skip + 1)
    auto = _auto(names, ncols)
    spec = {"src": src, "dst": dst, "time": time, "weight": weight, "sign": sign}
    cols = {}
    for role, s in spec.items():
        if s is False:
            cols[role] = None
        elif s is None or s is True:
            cols[role] = auto[role]
            if s is True and cols[role] is None:
                raise DataFormatError(path, f"no {role} column found; name it ({role}=...)")
        else:
            cols[role] = _column(s, role, names, ncols, path)
    if ncols < 2:
        raise DataFormatError(path, f"an edge list needs at least two columns, found {ncols}",
                              row=int(lines[0]), line=_line_text(path, int(lines[0])))
    used = [c for c in cols.values() if c is not None]
    empty = (df.iloc[:, used] == "").to_numpy()
    if empty.any():
        i, j = np.argwhere(empty)[0]
        raise DataFormatError(path, "missing field", row=int(lines[i]),
                              column=str(names[used[j]] if names else used[j]),
                              line=_line_text(path, int(lines[i])))

    def label(role: str) -> str:
        c = cols[role]
        return names[c] if names else f"{role} ({c})"

    s_raw, s_int = _ids(df.iloc[:, cols["src"]], lines, path, label("src"))
    d_raw, d_int = _ids(df.iloc[:, cols["dst"]], lines, path, label("dst"))
    extra: dict[str, Any] = {}
    if s_int and d_int:
        s_ids, d_ids, node_ids = _remap(s_raw, d_raw)
        extra["node_ids"] = torch.from_numpy(node_ids)
    else:  # string ids (or mixed): sorted unique strings
        both = np.concatenate([s_raw.astype(str), d_raw.astype(str)])
        names_u, inv = np.unique(both, return_inverse=True)
        s_ids, d_ids = inv[: s_raw.size].astype(np.int64), inv[s_raw.size:].astype(np.int64)
        extra["node_names"] = names_u.tolist()
    per_event: dict[str, np.ndarray] = {}
    if cols["weight"] is not None:
        per_event["weight"] = _numbers(df.iloc[:, cols["weight"]], lines, path,
                                       label("weight")).astype(np.float32)
    if cols["sign"] is not None:
        sg = _numbers(df.iloc[:, cols["sign"]], lines, path, label("sign"))
        bad = ~np.isin(sg, (-1, 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataFormatError(path, f"sign must be -1 or +1, got {sg[i]:g}",
                                  row=int(lines[i]), column=label("sign"),
                                  line=_line_text(path, int(lines[i])))
        per_event["sign"] = sg.astype(np.int64)
    n = int(max(s_ids.max(), d_ids.max())) + 1
    if cols["time"] is None:
        data = Data(edge_index=torch.from_numpy(np.stack([s_ids, d_ids])), num_nodes=n)
        if "weight" in per_event:
            data.edge_weight = torch.from_numpy(per_event["weight"])
        if "sign" in per_event:
            data.sign = torch.from_numpy(per_event["sign"])
    else:
        t = _numbers(df.iloc[:, cols["time"]], lines, path, label("time"))
        if (t < 0).any():
            i = int(np.argmax(t < 0))
            raise DataFormatError(path, f"negative timestamp {t[i]:g}", row=int(lines[i]),
                                  column=label("time"), line=_line_text(path, int(lines[i])))
        t = t.astype(np.int64) if (t == np.floor(t)).all() else t.astype(np.float64)
        with warnings.catch_warnings():
            if not warn_unsorted:
                warnings.simplefilter("ignore", UserWarning)
            order = _time_order(t, path, warn_unsorted)
        o = np.arange(t.size) if order is None else order
        data = TemporalData(src=torch.from_numpy(s_ids[o]), dst=torch.from_numpy(d_ids[o]),
                            t=torch.from_numpy(t[o]), msg=torch.zeros(t.size, 0))
        for k, v in per_event.items():
            data[k] = torch.from_numpy(np.ascontiguousarray(v[o]))
    for k, v in extra.items():
        data[k] = v
    return data


FORMATS["edgelist"] = read_edgelist  # `read(path, "edgelist")`, `edgelist:PATH` on the CLI
