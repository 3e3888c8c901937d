import math
import xml.etree.ElementTree as ET

import pytest

from graphcl.evaluate.plot import line_chart_svg

NS = "{http://www.w3.org/2000/svg}"


def _points(group):
    poly = group.find(f"{NS}polyline")
    return [tuple(map(float, p.split(","))) for p in poly.get("points").split()]


def test_line_chart_geometry(tmp_path):
    series = {"TGN": [(800, 80.0), (200, 90.0), (400, 85.0)], "TGN + PRES": [(200, 89.0),
                                                                           (800, 88.0)]}
    path = line_chart_svg(series, tmp_path / "sub" / "c.svg", log_x=True, title="t",
                          xlabel="batch", ylabel="AP", errors={"TGN + PRES": [1.0, 0.5]})
    root = ET.parse(path).getroot()
    groups = [g for g in root.iter(f"{NS}g") if g.get("class") == "series"]
    assert [g.get("data-name") for g in groups] == ["TGN", "TGN + PRES"]
    tgn = _points(groups[0])
    assert len(tgn) == 3
    xs = [x for x, _ in tgn]
    assert xs == sorted(xs)  # sorted by batch size
    # log axis: 200 -> 400 -> 800 are equally spaced
    assert math.isclose(xs[1] - xs[0], xs[2] - xs[1], rel_tol=1e-3)
    # higher AP is drawn higher (smaller pixel y)
    ys = [y for _, y in tgn]
    assert ys[0] < ys[1] < ys[2]
    pres = _points(groups[1])
    assert pres[0][0] == pytest.approx(xs[0]) and pres[1][0] == pytest.approx(xs[2])
    # error bars: one vertical line per point with error, centred on the point
    bars = [e for e in groups[1].iter(f"{NS}line")]
    assert len(bars) == 2 and float(bars[0].get("x1")) == pytest.approx(pres[0][0])
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert {"t", "batch", "AP", "200", "400", "800", "TGN"} <= set(texts)
    assert [p.name for p in path.parent.iterdir()] == ["c.svg"]  # no temp file left


def test_line_chart_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no series"):
        line_chart_svg({}, tmp_path / "a.svg")
    with pytest.raises(ValueError, match="'a' has no points"):
        line_chart_svg({"a": []}, tmp_path / "a.svg")
    with pytest.raises(ValueError, match="non-finite"):
        line_chart_svg({"a": [(1, float("nan"))]}, tmp_path / "a.svg")
    with pytest.raises(ValueError, match="log_x"):
        line_chart_svg({"a": [(0, 1.0)]}, tmp_path / "a.svg", log_x=True)
    with pytest.raises(ValueError, match="errors"):
        line_chart_svg({"a": [(1, 1.0)]}, tmp_path / "a.svg", errors={"a": [1, 2]})
    with pytest.raises(ValueError, match="finite"):
        line_chart_svg({"a": [(1, 1.0)]}, tmp_path / "a.svg", errors={"a": [float("nan")]})
    assert not list(tmp_path.iterdir())


def test_line_chart_single_point_and_escaping(tmp_path):
    path = line_chart_svg({"a<b & c": [(3, 5.0)]}, tmp_path / "p.svg")
    root = ET.parse(path).getroot()  # well-formed despite the name
    assert any(t.text == "a<b & c" for t in root.iter(f"{NS}text"))
