r"""Fuzz corpus: seeded malformed and benign variants of every format's real (or synthetic)
files. A corrupting variant must raise a clear error (a ``DataFormatError`` or
``FileNotFoundError`` whose message names the file or folder); a benign variant (other line
endings, gzip, comments, blank lines, row order) must parse to the same object. Anything else
is *silent garbage* (a corrupting variant that parses) or an *unclear error* (another exception,
or a message that names no file). The corpus size and the counts are printed."""

from __future__ import annotations

import gzip
import pickle
import random
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from graphcl.data.errors import DataFormatError
from graphcl.data.fingerprint import fingerprint
from graphcl.data.readers import read

CORRUPT, BENIGN = "corrupt", "benign"


class Corpus:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: list[tuple[str, str, str, Callable[[], Path], str | None]] = []
        self.n = 0

    def add(self, fmt: str, name: str, kind: str, make: Callable[[], Path],
            base: str | None = None) -> None:
        self.cases.append((fmt, name, kind, make, base))

    def path(self, suffix: str) -> Path:
        self.n += 1
        p = self.root / f"v{self.n:04d}"
        p.mkdir()
        return p / suffix


def _text_variants(c: Corpus, fmt: str, fname: str, text: str, *, header: int, sep: str,
                   numeric_cols: list[int], time_col: int | None, rng: random.Random,
                   benign_sort: bool = True, reader_kw: dict | None = None) -> None:
    r"""Row/field corruptions and benign rewrites of one delimited text file."""
    lines = text.rstrip("\n").split("\n")
    body = list(range(header, len(lines)))
    join = " " if sep == r"\s+" else sep

    def split(line):
        return line.split() if sep == r"\s+" else line.split(sep)

    def write(new_lines, *, suffix=fname, raw: bytes | None = None, newline="\n"):
        def make():
            p = c.path(suffix)
            p.write_bytes(raw if raw is not None else (newline.join(new_lines) + newline).encode())
            return p
        return make

    def with_row(i, fields):
        out = list(lines)
        out[i] = join.join(fields)
        return out

    base_key = f"{fmt}:{fname}"
    c.add(fmt, f"{fname} original", BENIGN, write(lines), base_key)
    rows = rng.sample(body, min(4, len(body)))
    for i in rows:
        f = split(lines[i])
        c.add(fmt, f"{fname} row {i + 1}: a field dropped", CORRUPT, write(with_row(i, f[:-1])))
        c.add(fmt, f"{fname} row {i + 1}: a field added", CORRUPT, write(with_row(i, f + ["7"])))
        for col in numeric_cols[:3]:
            for bad in ("abc", "nan", "inf", "-5"):
                if bad == "-5" and col not in (0, 1, time_col):
                    continue
                g = list(f)
                g[col] = bad
                c.add(fmt, f"{fname} row {i + 1} col {col}: {bad}", CORRUPT, write(with_row(i, g)))
        c.add(fmt, f"{fname} row {i + 1}: empty field", CORRUPT,
              write(with_row(i, [f[0], "", *f[2:]] if sep != r"\s+" else f[:1])))
    if time_col is not None:
        last = split(lines[-1])
        cut = join.join(last)[:-3]
        if len(last[time_col]) > 4 and time_col == len(last) - 1:
            c.add(fmt, f"{fname} last line cut by 3 characters", CORRUPT,
                  write([], raw=("\n".join(lines[:-1] + [cut])).encode()))
    c.add(fmt, f"{fname} empty file", CORRUPT, write([], raw=b""))
    if header:
        c.add(fmt, f"{fname} header only", CORRUPT, write(lines[:header]))
    c.add(fmt, f"{fname} binary garbage", CORRUPT,
          write([], raw=bytes(rng.randrange(256) for _ in range(300))))
    c.add(fmt, f"{fname} \\r\\r\\n line ends", CORRUPT, write(lines, newline="\r\r\n"))
    gz = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    broken = bytearray(gz)
    broken[len(broken) // 2] ^= 0xFF
    c.add(fmt, f"{fname}.gz corrupt stream", CORRUPT,
          write([], suffix=fname + ".gz", raw=bytes(broken)))
    c.add(fmt, f"{fname}.gz truncated", CORRUPT,
          write([], suffix=fname + ".gz", raw=gz[: len(gz) * 2 // 3]))
    if header:
        mid = rng.choice(body)
        c.add(fmt, f"{fname} header repeated at row {mid + 1}", CORRUPT,
              write(lines[: mid] + [lines[0]] + lines[mid:]))
    # benign rewrites: same object
    c.add(fmt, f"{fname} CRLF line ends", BENIGN, write(lines, newline="\r\n"), base_key)
    c.add(fmt, f"{fname}.gz", BENIGN, write([], suffix=fname + ".gz", raw=gz), base_key)
    c.add(fmt, f"{fname} trailing blank lines", BENIGN, write(lines + ["", ""]), base_key)
    c.add(fmt, f"{fname} no final newline", BENIGN,
          write([], raw="\n".join(lines).encode()), base_key)
    if benign_sort and time_col is not None:
        # events in reverse time order, ties kept in file order: a stable sort restores them
        groups: dict[str, list[str]] = {}
        for line in lines[header:]:
            groups.setdefault(split(line)[time_col], []).append(line)
        flipped = lines[:header] + [x for key in reversed(list(groups)) for x in groups[key]]
        c.add(fmt, f"{fname} rows in reverse time order (re-sorted)", BENIGN, write(flipped),
              base_key)


def _copy_tree(c: Corpus, src: Path, name: str) -> Path:
    dst = c.path(name)
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def corpus(data_root, tmp_path_factory):
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("fuzz")
    c = Corpus(root)
    opts: dict[str, dict] = {}

    # --- snap-temporal: CollegeMsg's first 300 events
    uci = data_root / "collegemsg" / "CollegeMsg.txt"
    if uci.exists():
        text = "\n".join(uci.read_text().splitlines()[:300]) + "\n"
        _text_variants(c, "snap-temporal", "uci.txt", text, header=0, sep=r"\s+",
                       numeric_cols=[0, 1, 2], time_col=2, rng=rng)
    # --- snap-signed with time: Bitcoin-OTC's first 300 ratings (not time-sorted upstream)
    otc = data_root / "bitcoin-otc" / "soc-sign-bitcoinotc.csv"
    if otc.exists():
        rows = otc.read_text().splitlines()[:300]
        rows.sort(key=lambda r: float(r.split(",")[3]))
        _text_variants(c, "snap-signed", "otc.csv", "\n".join(rows) + "\n", header=0, sep=",",
                       numeric_cols=[0, 1, 2, 3], time_col=3, rng=rng)
        g = rows[7].split(",")
        for bad in ("11", "2.5"):
            r2 = list(rows)
            r2[7] = ",".join([g[0], g[1], bad, g[3]])
            c.add("snap-signed", f"otc rating {bad}", CORRUPT,
                  lambda r2=r2: _w(c, "otc.csv", "\n".join(r2) + "\n"))
    # --- snap-signed without time (Epinions layout), synthetic
    g = np.random.default_rng(0)
    e = [f"{a}\t{b}\t{s}" for a, b, s in zip(g.integers(0, 50, 200), g.integers(0, 50, 200),
                                              g.choice([-1, 1], 200), strict=True)]
    text = "# Directed signed network\n# FromNodeId\tToNodeId\tSign\n" + "\n".join(e) + "\n"
    _text_variants(c, "snap-signed", "epi.txt", text, header=2, sep="\t", numeric_cols=[0, 1, 2],
                   time_col=None, rng=rng)
    # --- jodie: Wikipedia's first 300 events (items pre-offset), with its header
    wiki = data_root / "jodie-wikipedia-nofeat" / "wikipedia_uitl.csv"
    if wiki.exists():
        text = "\n".join(wiki.read_text().splitlines()[:301]) + "\n"
        _text_variants(c, "jodie", "wiki.csv", text, header=1, sep=",", numeric_cols=[0, 1, 2, 3],
                       time_col=2, rng=rng)
    # --- edgelist: a user's CSV with string ids and a time column
    names = [f"user{i}" for i in range(40)]
    ev = [f"{names[a]},{names[b]},{t}" for t, (a, b) in enumerate(
        zip(g.integers(0, 40, 200), g.integers(0, 40, 200), strict=True))]
    _text_variants(c, "edgelist", "mine.csv", "src,dst,time\n" + "\n".join(ev) + "\n",
                   header=1, sep=",", numeric_cols=[2], time_col=2, rng=rng)
    # --- ml: TGN preprocessed CSV with its edge features
    ml_rows = [f"{k},{a},{b},{t},0,{k + 1}" for k, (a, b, t) in enumerate(zip(
        g.integers(1, 30, 150), g.integers(31, 60, 150), range(150), strict=True))]
    ml_text = ",u,i,ts,label,idx\n" + "\n".join(ml_rows) + "\n"
    _text_variants(c, "ml", "ml_toy.csv", ml_text, header=1, sep=",", numeric_cols=[1, 2, 3],
                   time_col=None, rng=rng)
    # --- planetoid: Cora
    cora = data_root / "planetoid" / "Cora" / "raw"
    if cora.exists():
        c.add("planetoid", "cora original", BENIGN, lambda: _copy_tree(c, cora, "Cora"), "cora")
        for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
            c.add("planetoid", f"cora without ind.cora.{part}", CORRUPT,
                  lambda part=part: _drop(_copy_tree(c, cora, "Cora"), f"ind.cora.{part}"))
            c.add("planetoid", f"cora ind.cora.{part} truncated", CORRUPT,
                  lambda part=part: _truncate(_copy_tree(c, cora, "Cora"), f"ind.cora.{part}"))
        for label, edit in (("duplicate", lambda ix: ix[:-1] + [ix[0]]),
                            ("huge", lambda ix: ix[:-1] + [10 ** 12]),
                            ("negative", lambda ix: ix[:-1] + [-3]),
                            ("text", lambda ix: ix[:-1] + ["x"]),
                            ("one missing", lambda ix: ix[:-1])):
            c.add("planetoid", f"cora test.index {label}", CORRUPT,
                  lambda edit=edit: _edit_lines(_copy_tree(c, cora, "Cora"),
                                                "ind.cora.test.index", edit))
        c.add("planetoid", "cora graph not a dict", CORRUPT,
              lambda: _pickle(_copy_tree(c, cora, "Cora"), "ind.cora.graph", [1, 2, 3]))
        c.add("planetoid", "cora graph edge to a phantom node", CORRUPT,
              lambda: _pickle(_copy_tree(c, cora, "Cora"), "ind.cora.graph", {0: [99999]}))
    # --- tu: MUTAG
    mutag = data_root / "tu" / "MUTAG" / "raw"
    if mutag.exists():
        c.add("tu", "mutag original", BENIGN, lambda: _copy_tree(c, mutag, "MUTAG"), "mutag")
        for part, edit in (
            ("graph_indicator", lambda v: [str(int(x) + (1 if int(x) >= 5 else 0)) for x in v]),
            ("graph_indicator", lambda v: v[:-1]),
            ("graph_indicator", lambda v: list(reversed(v))),
            ("A", lambda v: v + ["1, 99999"]),
            ("A", lambda v: v + ["1, 18"]),  # joins graph 1 and graph 2
            ("A", lambda v: v[:5] + ["1"] + v[5:]),
            ("graph_labels", lambda v: v[:-1]),
            ("graph_labels", lambda v: v[:3] + ["y"] + v[4:]),
            ("node_labels", lambda v: v[:-2]),
            ("edge_labels", lambda v: v + ["0"]),
        ):
            c.add("tu", f"mutag {part} edited", CORRUPT,
                  lambda part=part, edit=edit: _edit_lines(_copy_tree(c, mutag, "MUTAG"),
                                                           f"MUTAG_{part}.txt", edit))
        for part in ("A", "graph_indicator"):
            c.add("tu", f"mutag without {part}", CORRUPT,
                  lambda part=part: _drop(_copy_tree(c, mutag, "MUTAG"), f"MUTAG_{part}.txt"))
    # --- idx: MNIST test set
    mnist = data_root / "mnist" / "raw"
    if mnist.exists():
        def mnist_copy():
            d = c.path("mnist")
            d.mkdir()
            for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
                shutil.copy(mnist / n, d / n)
            return d
        c.add("idx", "mnist test original", BENIGN, mnist_copy, "mnist")
        for label, edit in (("magic", lambda b: b"\x01" + b[1:]),
                            ("type code", lambda b: b[:2] + b"\x07" + b[3:]),
                            ("body cut", lambda b: b[:-10]),
                            ("header cut", lambda b: b[:6]),
                            ("count", lambda b: b[:4] + (9999).to_bytes(4, "big") + b[8:])):
            for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
                c.add("idx", f"mnist {n} {label}", CORRUPT,
                      lambda n=n, edit=edit: _regz(mnist_copy(), n, edit))
        c.add("idx", "mnist labels missing", CORRUPT,
              lambda: _drop(mnist_copy(), "t10k-labels-idx1-ubyte.gz"))
        c.add("idx", "mnist corrupt gzip", CORRUPT,
              lambda: _flip(mnist_copy(), "t10k-images-idx3-ubyte.gz"))
    # --- npz: Cora-ML
    npz = data_root / "citationfull" / "cora_ml" / "raw" / "cora_ml.npz"
    if npz.exists():
        base = dict(np.load(npz, allow_pickle=False))
        c.add("npz", "cora-ml original", BENIGN, lambda: _npz(c, base), "cora_ml")
        for label, edit in (
            ("adj_indices out of range", lambda a: {**a, "adj_indices": a["adj_indices"] + 5000}),
            ("adj_indptr short", lambda a: {**a, "adj_indptr": a["adj_indptr"][:-1]}),
            ("adj_shape not square", lambda a: {**a, "adj_shape": np.array([2995, 3000])}),
            ("labels short", lambda a: {**a, "labels": a["labels"][:-1]}),
            ("labels float", lambda a: {**a, "labels": a["labels"] + 0.5}),
            ("attr rows", lambda a: {**a, "attr_shape": np.array([3000, 2879])}),
            ("no adj_data", lambda a: {k: v for k, v in a.items() if k != "adj_data"}),
            ("nan in attr", lambda a: {**a, "attr_data": np.where(
                np.arange(a["attr_data"].size) == 3, np.nan, a["attr_data"])}),
            ("object labels", lambda a: {**a, "labels": a["labels"].astype(object)}),
        ):
            c.add("npz", f"cora-ml {label}", CORRUPT, lambda edit=edit: _npz(c, edit(base)))
        c.add("npz", "cora-ml garbage bytes", CORRUPT, lambda: _w(c, "g.npz", "not a zip"))
    # --- ogb-linkprop: ogbl-ddi
    ddi = data_root / "ogbl-ddi"
    if ddi.exists():
        c.add("ogb-linkprop", "ddi original", BENIGN, lambda: _copy_tree(c, ddi, "ogbl_ddi"),
              "ddi")
        c.add("ogb-linkprop", "ddi valid without negatives", CORRUPT,
              lambda: _ogb_valid(_copy_tree(c, ddi, "ogbl_ddi"), drop="edge_neg"))
        c.add("ogb-linkprop", "ddi valid edge past the nodes", CORRUPT,
              lambda: _ogb_valid(_copy_tree(c, ddi, "ogbl_ddi"), edge_past=True))
        c.add("ogb-linkprop", "ddi valid.pt not a pickle", CORRUPT,
              lambda: _garble(_copy_tree(c, ddi, "ogbl_ddi"), "split/target/valid.pt"))
        c.add("ogb-linkprop", "ddi without test.pt", CORRUPT,
              lambda: _drop(_copy_tree(c, ddi, "ogbl_ddi"), "split/target/test.pt"))
        c.add("ogb-linkprop", "ddi edge file corrupt", CORRUPT,
              lambda: _flip(_copy_tree(c, ddi, "ogbl_ddi"), "raw/edge.csv.gz"))
    return c, opts


def _w(c: Corpus, name: str, text: str) -> Path:
    p = c.path(name)
    p.write_text(text)
    return p


def _drop(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


def _truncate(folder: Path, name: str) -> Path:
    p = folder / name
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2])
    return folder


def _flip(folder: Path, name: str) -> Path:
    p = folder / name
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))
    return folder


def _garble(folder: Path, name: str) -> Path:
    (folder / name).write_bytes(b"garbage, not a pickle")
    return folder


def _edit_lines(folder: Path, name: str, edit) -> Path:
    p = folder / name
    p.write_text("\n".join(map(str, edit(p.read_text().split("\n")[:-1]))) + "\n")
    return folder


def _pickle(folder: Path, name: str, obj) -> Path:
    with open(folder / name, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return folder


def _regz(folder: Path, name: str, edit) -> Path:
    p = folder / name
    p.write_bytes(gzip.compress(edit(gzip.decompress(p.read_bytes())), mtime=0))
    return folder


def _npz(c: Corpus, arrays: dict) -> Path:
    p = c.path("g.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.savez(p, **arrays)
    return p


def _ogb_valid(folder: Path, *, drop: str | None = None, edge_past: bool = False) -> Path:
    from graphcl.data.readers import _safe_torch_load

    p = folder / "split" / "target" / "valid.pt"
    d = {k: torch.as_tensor(v) for k, v in _safe_torch_load(p).items()}
    if drop:
        d.pop(drop)
    if edge_past:
        d["edge"][0, 0] = 10 ** 6
    torch.save(d, p)
    return folder


FORMAT_OF = {"uci.txt": "snap-temporal"}


def test_fuzz_corpus(corpus, capsys):
    c, _ = corpus
    baseline: dict[str, str] = {}
    counts = {"clear error": 0, "correct parse": 0, "silent garbage": 0, "unclear error": 0}
    problems = []
    for fmt, name, kind, make, base in c.cases:
        path = make()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = read(path, fmt)
        except (DataFormatError, FileNotFoundError) as err:
            root = path if path.is_dir() else path.parent
            if kind == CORRUPT and str(root) in str(err):
                counts["clear error"] += 1
            else:
                counts["unclear error"] += 1
                problems.append(f"{name}: {type(err).__name__}: {str(err)[:160]}")
            continue
        except Exception as err:  # noqa: BLE001 - a traceback from deep inside is the finding
            counts["unclear error"] += 1
            problems.append(f"{name}: {type(err).__name__}: {str(err)[:160]}")
            continue
        if kind == CORRUPT:
            counts["silent garbage"] += 1
            problems.append(f"{name}: parsed without error")
            continue
        digest = fingerprint(obj)
        if base not in baseline:
            baseline[base] = digest
            counts["correct parse"] += 1
        elif baseline[base] == digest:
            counts["correct parse"] += 1
        else:
            counts["silent garbage"] += 1
            problems.append(f"{name}: parsed to another object than the original")
    total = sum(counts.values())
    with capsys.disabled():
        print(f"\nreader fuzz corpus: {total} variants over "
              f"{len({f for f, *_ in c.cases})} formats: {counts}")
    assert total >= 150
    assert not problems, "\n".join(problems)
