r"""Dependency-free charts written as SVG (for experiment reports on machines without
matplotlib): :func:`line_chart_svg` (learning curves, sweeps) and :func:`metric_matrix_svg`
(a continual-learning stream's accuracy matrix); files are written atomically.
:func:`plot_metric_matrix` draws the matrix on a matplotlib axis when matplotlib is
installed."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MARKERS = ("circle", "square", "diamond", "triangle")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + 1e-9 * step:
        if v >= lo - 1e-9 * step:
            ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}"


def _marker(kind: str, x: float, y: float, color: str) -> str:
    r = 3.5
    if kind == "square":
        return (f'<rect x="{x - r:.2f}" y="{y - r:.2f}" width="{2 * r}" height="{2 * r}" '
                f'fill="{color}"/>')
    if kind == "diamond":
        return (f'<polygon points="{x:.2f},{y - r - 1:.2f} {x + r + 1:.2f},{y:.2f} '
                f'{x:.2f},{y + r + 1:.2f} {x - r - 1:.2f},{y:.2f}" fill="{color}"/>')
    if kind == "triangle":
        return (f'<polygon points="{x:.2f},{y - r - 1:.2f} {x + r + 1:.2f},{y + r:.2f} '
                f'{x - r - 1:.2f},{y + r:.2f}" fill="{color}"/>')
    return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{r}" fill="{color}"/>'


def line_chart_svg(series: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, *,
                   title: str = "", xlabel: str = "", ylabel: str = "", log_x: bool = False,
                   width: int = 560, height: int = 380,
                   errors: Mapping[str, Sequence[float]] | None = None) -> Path:
    r"""Draws one polyline per entry of ``series`` (``name -> [(x, y), ...]``, sorted by x
    here) with markers, axes, ticks and a legend, and writes it to ``path`` as SVG.

    Args:
        series: The curves. Every curve needs at least one point; values must be finite.
        path: Output file (written atomically).
        title, xlabel, ylabel (str, optional): Labels.
        log_x (bool, optional): Logarithmic x axis (x must then be > 0); ticks at the
            x values present (e.g. batch sizes 200, 400, 800). (default: :obj:`False`)
        errors (mapping, optional): ``name -> [err, ...]`` half-heights of error bars, in
            the order of the (x-sorted) points of that curve. (default: :obj:`None`)

    Returns:
        The written path.
    """
    if not series:
        raise ValueError("line_chart_svg: no series to draw")
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, pts in series.items():
        pts = sorted((float(x), float(y)) for x, y in pts)
        if not pts:
            raise ValueError(f"line_chart_svg: series {name!r} has no points")
        for x, y in pts:
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"line_chart_svg: series {name!r} has a non-finite point "
                                 f"({x}, {y})")
            if log_x and x <= 0:
                raise ValueError(f"line_chart_svg: log_x needs x > 0, series {name!r} has {x}")
        curves[name] = pts
    errors = {k: [float(e) for e in v] for k, v in (errors or {}).items()}
    for name, errs in errors.items():
        if name not in curves or len(errs) != len(curves[name]):
            raise ValueError(f"line_chart_svg: errors[{name!r}] must match its series' points")
        if not all(math.isfinite(e) and e >= 0 for e in errs):
            raise ValueError(f"line_chart_svg: errors[{name!r}] must be finite and >= 0, "
                             f"got {errs}")

    xs = [x for pts in curves.values() for x, _ in pts]
    lo_y = min(y - e for n, pts in curves.items()
               for (_, y), e in zip(pts, errors.get(n, [0.0] * len(pts)), strict=True))
    hi_y = max(y + e for n, pts in curves.items()
               for (_, y), e in zip(pts, errors.get(n, [0.0] * len(pts)), strict=True))
    pad = 0.05 * (hi_y - lo_y) if hi_y > lo_y else max(abs(hi_y) * 0.05, 1.0)
    yticks = _nice_ticks(lo_y - pad, hi_y + pad)
    y0, y1 = min(yticks[0], lo_y - pad), max(yticks[-1], hi_y + pad)
    fx = (lambda v: math.log(v)) if log_x else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    if x1 == x0:
        x0, x1 = x0 - 1.0, x1 + 1.0
    xticks = sorted(set(xs)) if log_x else _nice_ticks(min(xs), max(xs))

    left, right, top, bottom = 64, 150, 36 if title else 16, 48
    pw, ph = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + (fx(v) - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + (1.0 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="{left + pw / 2:.1f}" y="20" text-anchor="middle" '
                   f'font-size="14">{escape(title)}</text>')
    for v in yticks:
        y = py(v)
        out.append(f'<line x1="{left}" y1="{y:.2f}" x2="{left + pw}" y2="{y:.2f}" '
                   f'stroke="#e0e0e0"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.2f}" text-anchor="end">{_fmt(v)}</text>')
    for v in xticks:
        x = px(v)
        out.append(f'<line x1="{x:.2f}" y1="{top + ph}" x2="{x:.2f}" y2="{top + ph + 5}" '
                   f'stroke="black"/>')
        out.append(f'<text x="{x:.2f}" y="{top + ph + 18}" text-anchor="middle">{_fmt(v)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="black"/>')
    if xlabel:
        out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                   f'{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text x="16" y="{top + ph / 2:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 16 {top + ph / 2:.1f})">{escape(ylabel)}</text>')
    for i, (name, pts) in enumerate(curves.items()):
        color, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        coords = " ".join(f"{px(x):.2f},{py(y):.2f}" for x, y in pts)
        out.append(f'<g class="series" data-name="{escape(name, {chr(34): "&quot;"})}">')
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                   f'stroke-width="2"/>')
        for j, (x, y) in enumerate(pts):
            if name in errors and errors[name][j] > 0:
                e = errors[name][j]
                out.append(f'<line x1="{px(x):.2f}" y1="{py(y - e):.2f}" x2="{px(x):.2f}" '
                           f'y2="{py(y + e):.2f}" stroke="{color}"/>')
            out.append(_marker(marker, px(x), py(y), color))
        out.append("</g>")
        ly = top + 14 + 18 * i
        out.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 36}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(_marker(marker, left + pw + 24, ly, color))
        out.append(f'<text x="{left + pw + 42}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return _write_atomic(path, "\n".join(out) + "\n")


def _write_atomic(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _matrix_rows(R: Any) -> list[list[float]]:
    rows = [[float(v) for v in row] for row in (R.tolist() if hasattr(R, "tolist") else R)]
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("metric matrix: expected a non-empty rectangular matrix")
    return rows


def metric_matrix_svg(R: Any, path: str | Path, *, title: str = "", cell: int = 56,
                      digits: int = 1) -> Path:
    r"""Draws ``R[i][j]`` (the metric on experience ``j`` after training experience ``i``) as
    a white-to-blue heat map with the values written in the cells, and writes it to ``path``.

    Args:
        R: a ``T x T`` matrix (tensor or nested lists).
        path: Output file (written atomically).
        title (str, optional): drawn above the matrix.
        cell (int, optional): cell size in pixels. (default: ``56``)
        digits (int, optional): decimals of the written values. (default: ``1``)
    """
    rows = _matrix_rows(R)
    finite = [v for r in rows for v in r if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = hi - lo or 1.0
    T, C = len(rows), len(rows[0])
    left, top = 110, 56 if title else 36
    width, height = left + C * cell + 20, top + T * cell + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 360)}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{max(width, 360)}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="8" y="18" font-size="13">{escape(title)}</text>')
    out.append(f'<text x="{left + C * cell / 2:.1f}" y="{top - 22}" text-anchor="middle">'
               'evaluated on experience</text>')
    for j in range(C):
        out.append(f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top - 6}" '
                   f'text-anchor="middle">{j}</text>')
    for i, row in enumerate(rows):
        y = top + i * cell
        out.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">'
                   f'after {i}</text>')
        for j, v in enumerate(row):
            a = (v - lo) / span if math.isfinite(v) else 0.0
            r, g, b = (int(255 - a * (255 - c)) for c in (31, 119, 180))
            out.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell}" height="{cell}" '
                       f'fill="rgb({r},{g},{b})" stroke="white"/>')
            ink = "white" if a > 0.6 else "black"
            text = f"{v:.{digits}f}" if math.isfinite(v) else "—"
            out.append(f'<text x="{left + (j + 0.5) * cell:.1f}" y="{y + cell / 2 + 4:.1f}" '
                       f'text-anchor="middle" fill="{ink}">{text}</text>')
    out.append("</svg>")
    return _write_atomic(path, "\n".join(out) + "\n")


def plot_metric_matrix(R: Any, ax: Any = None, *, title: str = "", digits: int = 1) -> Any:
    r"""Draws ``R`` as an annotated heat map on a matplotlib axis (a new figure's when
    ``ax`` is ``None``) and returns the axis. Needs ``matplotlib`` (``pip install
    graphcl[plot]``); :func:`metric_matrix_svg` needs nothing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_metric_matrix needs matplotlib (pip install matplotlib); "
                          "metric_matrix_svg writes the same chart without it") from None
    rows = _matrix_rows(R)
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.7 * len(rows[0]), 1 + 0.7 * len(rows)))
    ax.imshow(rows, cmap="Blues")
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.{digits}f}", ha="center", va="center", fontsize=8)
    ax.set_xlabel("evaluated on experience")
    ax.set_ylabel("after training experience")
    if title:
        ax.set_title(title)
    return ax
