r"""Dataset cards, the data root, checksums, download and the processed cache.

A dataset is a card, ``datasets/<name>.toml``, read with :mod:`tomllib`::

    name = "cora"
    aliases = ["planetoid-cora"]
    task = "node classification, link prediction"
    format = "planetoid"                 # a key of graphcl.data.readers.FORMATS
    folder = "planetoid/Cora/raw"        # relative to the data root
    entry = "..."                        # optional: file inside `folder` handed to the reader
    homepage = "https://..."
    citation = "..."
    license = "..."
    [read]                               # optional keyword arguments for the reader
    name = "cora"
    [stats]                              # checked after parsing (see compute_stats)
    num_nodes = 2708
    [[files]]                            # what must be in `folder`
    path = "ind.cora.x"
    sha256 = "23cf..."                   # optional: without it only presence + stats are checked
    size = 22119
    url = "https://..."                  # optional: where to download this file
    decompress = "gzip"                  # optional: the url serves it gzipped
    content_sha256 = "..."               # optional: sha256 of the gunzipped bytes of a .gz file
    [[archives]]                         # optional: zip(s) that hold the files
    url = "https://.../ddi.zip"
    strip = "ddi/"                       # member prefix to drop when extracting into `folder`

Cards are looked up in ``$GRAPHCL_CARDS``, then the installed copy ``graphcl/_zoo/datasets``,
then the repository's ``datasets/`` folder; the first card with a name wins.

:func:`load` resolves the data root (``root`` > ``$GRAPHCL_DATA`` > ``$XDG_CACHE_HOME`` or
``~/.cache`` ``/graphcl/data``), downloads missing files when the card says where from, checks
sizes and sha256 — recomputed from the bytes at every load (a memo per ``(path, size, mtime)``
in ``checksums.json`` only speeds up :func:`verify`, never a load) — parses, checks the card's
statistics and keeps a processed copy in ``$GRAPHCL_CACHE`` (default
``~/.cache/graphcl/processed``), keyed on the files' digests, never in the data root, which may
be read-only. Card paths must be relative and stay inside the data root; only http(s) URLs
are fetched. The processed copy is plain tensors and is read back with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data, TemporalData

from graphcl.data import readers
from graphcl.data.errors import DataFormatError
from graphcl.data.readers import LinkPropDataset, read

__all__ = [
    "DatasetCard",
    "FileSpec",
    "VerifyReport",
    "cache_dir",
    "compute_stats",
    "data_root",
    "get_card",
    "list_cards",
    "load",
    "resolve_dataset",
    "verify",
]

_CARD_KEYS = {
    "name", "aliases", "task", "format", "folder", "entry", "description", "homepage",
    "citation", "license", "read", "stats", "files", "archives", "notes",
}
_FILE_KEYS = {"path", "sha256", "size", "url", "decompress", "content_sha256"}
_DOWNLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class FileSpec:
    r"""One file a dataset needs, relative to the card's folder."""

    path: str
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    decompress: str | None = None
    content_sha256: str | None = None


@dataclass(frozen=True)
class DatasetCard:
    r"""A dataset card (``datasets/<name>.toml``); see the module docstring for the fields."""

    name: str
    format: str
    folder: str
    aliases: tuple[str, ...] = ()
    task: str = ""
    entry: str | None = None
    description: str = ""
    homepage: str = ""
    citation: str = ""
    license: str = ""
    read: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileSpec, ...] = ()
    archives: tuple[dict[str, str], ...] = ()
    notes: str = ""
    source: Path | None = None

    @property
    def verifiable(self) -> bool:
        r"""Whether every file has a sha256 (else only presence and statistics are checked)."""
        return bool(self.files) and all(f.sha256 for f in self.files)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> DatasetCard:
        r"""Parse and validate one card file."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise DataFormatError(path, f"invalid TOML ({err})") from err
        unknown = set(raw) - _CARD_KEYS
        if unknown:
            raise DataFormatError(path, f"unknown card key(s) {sorted(unknown)}; "
                                        f"expected some of {sorted(_CARD_KEYS)}")
        for key in ("name", "format", "folder"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise DataFormatError(path, f"card needs a non-empty string {key!r}")
        try:
            fmt = readers._normalise_format(raw["format"])
        except ValueError as err:
            raise DataFormatError(path, str(err)) from err
        _check_relative(path, "folder", raw["folder"])
        if raw.get("entry") is not None:
            _check_relative(path, "entry", raw["entry"])
        files = []
        for i, f in enumerate(raw.get("files", [])):
            bad = set(f) - _FILE_KEYS
            if bad or "path" not in f:
                raise DataFormatError(path, f"files[{i}]: needs 'path', allows {sorted(_FILE_KEYS)}"
                                            f" (found {sorted(f)})")
            _check_relative(path, f"files[{i}].path", f["path"])
            if f.get("url") is not None:
                _check_url(path, f"files[{i}].url", f["url"])
            files.append(FileSpec(**f))
        for i, a in enumerate(raw.get("archives", [])):
            if "url" not in a:
                raise DataFormatError(path, f"archives[{i}]: needs 'url'")
            _check_url(path, f"archives[{i}].url", a["url"])
        return cls(
            name=raw["name"].lower(),
            format=fmt,
            folder=raw["folder"],
            aliases=tuple(a.lower() for a in raw.get("aliases", [])),
            task=raw.get("task", ""),
            entry=raw.get("entry"),
            description=raw.get("description", ""),
            homepage=raw.get("homepage", ""),
            citation=raw.get("citation", ""),
            license=raw.get("license", ""),
            read=dict(raw.get("read", {})),
            stats=dict(raw.get("stats", {})),
            files=tuple(files),
            archives=tuple(dict(a) for a in raw.get("archives", [])),
            notes=raw.get("notes", ""),
            source=path,
        )


def _check_relative(card: Path, key: str, value: Any) -> None:
    r"""A card path must stay inside the data root: relative, no ``..``, no drive."""
    p = PurePosixPath(str(value).replace("\\", "/"))
    if (not isinstance(value, str) or not value or p.is_absolute() or ".." in p.parts
            or ":" in p.parts[0]):
        raise DataFormatError(card, f"{key} {value!r} must be a relative path inside the data "
                                    "root (no leading '/', no '..')")


def _check_url(card: Path, key: str, value: Any) -> None:
    if not isinstance(value, str) or urllib.parse.urlsplit(value).scheme not in ("http", "https"):
        raise DataFormatError(card, f"{key} {value!r}: only http(s) URLs are fetched")


# ---------------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------------


def _card_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    dirs = []
    env = os.environ.get("GRAPHCL_CARDS")
    if env:
        dirs.append(Path(env))
    dirs.append(here.parents[1] / "_zoo" / "datasets")
    dirs.append(here.parents[2] / "datasets")
    return [d for d in dirs if d.is_dir()]


def list_cards() -> list[DatasetCard]:
    r"""Every dataset card, sorted by name (earlier card folders shadow later ones)."""
    cards: dict[str, DatasetCard] = {}
    for d in _card_dirs():
        for p in sorted(d.glob("*.toml")):
            card = DatasetCard.from_toml(p)
            cards.setdefault(card.name, card)
    return [cards[k] for k in sorted(cards)]


def get_card(name: str) -> DatasetCard:
    r"""The card called ``name`` or with ``name`` among its aliases (case-insensitive).

    Raises:
        KeyError: no such card; the message lists the closest names.
    """
    key = name.strip().lower()
    cards = list_cards()
    for card in cards:
        if key == card.name or key in card.aliases:
            return card
    names = [c.name for c in cards] + [a for c in cards for a in c.aliases]
    close = difflib.get_close_matches(key, names, n=3)
    hint = f"; did you mean {close}?" if close else ""
    raise KeyError(f"no dataset card named {name!r}{hint} Known: {sorted(c.name for c in cards)}"
                   f" (cards are read from {[str(d) for d in _card_dirs()]})")


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------


def _user_cache() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "graphcl"


def data_root(root: str | os.PathLike | None = None) -> Path:
    r"""The folder holding raw datasets: ``root`` > ``$GRAPHCL_DATA`` > ``~/.cache/graphcl/data``.

    ``$XDG_CACHE_HOME`` replaces ``~/.cache`` when set.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("GRAPHCL_DATA")
    if env:
        return Path(env).expanduser()
    return _user_cache() / "data"


def cache_dir() -> Path:
    r"""The processed-data cache: ``$GRAPHCL_CACHE`` > ``~/.cache/graphcl/processed``."""
    env = os.environ.get("GRAPHCL_CACHE")
    if env:
        return Path(env).expanduser()
    return _user_cache() / "processed"


# ---------------------------------------------------------------------------------------------
# Checksums (remembered per path/size/mtime)
# ---------------------------------------------------------------------------------------------


def _sha256_stream(f: Any) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _checksum_db_path() -> Path:
    return cache_dir() / "checksums.json"


def _read_db() -> dict[str, list]:
    try:
        return json.loads(_checksum_db_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_db(db: dict[str, list]) -> None:
    path = _checksum_db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".checksums.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(db, f)
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs re-hashing next time
        pass


def _digest(path: Path, *, content: bool = False, db: dict[str, list] | None = None) -> str:
    """sha256 of the file (``content``: of its gunzipped bytes), memoised by size and mtime."""
    st = path.stat()
    key = str(path.resolve()) + ("#content" if content else "")
    if db is not None:
        hit = db.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
    opener = gzip.open if content else open
    with opener(path, "rb") as f:
        digest = _sha256_stream(f)
    if db is not None:
        db[key] = [st.st_size, st.st_mtime_ns, digest]
    return digest


def _check_files(card: DatasetCard, folder: Path, *, memo: bool = True,
                 hash_all: bool = False) -> list[dict[str, Any]]:
    """Per file: present / size_ok / sha256_ok (None when the card has no hash) and the file's
    actual ``digest``. ``memo`` may reuse a digest remembered for the same (path, size, mtime)
    (listing datasets); loading passes ``memo=False``, so the bytes that are parsed are the
    bytes that were hashed. ``hash_all`` also hashes files the card gives no sha256 for."""
    db = _read_db()
    before = dict(db)
    out = []
    for spec in card.files:
        p = folder / spec.path
        row: dict[str, Any] = {"path": str(p), "present": p.is_file(), "size_ok": None,
                               "sha256_ok": None, "problem": None, "digest": None}
        if row["present"]:
            size = p.stat().st_size
            if spec.size is not None:
                row["size_ok"] = size == spec.size
            if spec.sha256 or hash_all:
                row["digest"] = _digest(p, db=db if memo else None)
                if not memo:
                    st = p.stat()
                    db[str(p.resolve())] = [st.st_size, st.st_mtime_ns, row["digest"]]
            if spec.sha256:
                ok = row["digest"] == spec.sha256
                if not ok and spec.content_sha256:  # a re-compressed copy of the same content
                    try:
                        ok = _digest(p, content=True, db=db if memo else None) == spec.content_sha256
                    except (OSError, EOFError):
                        ok = False
                row["sha256_ok"] = ok
                if row["size_ok"] is False and not ok:
                    row["problem"] = f"size {size} != {spec.size} and sha256 mismatch"
                elif not ok:
                    row["problem"] = f"sha256 mismatch (expected {spec.sha256})"
            elif row["size_ok"] is False:
                row["problem"] = f"size {size} != {spec.size}"
        else:
            row["problem"] = "missing"
        out.append(row)
    if db != before:
        _write_db(db)
    return out


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def _offline() -> bool:
    return os.environ.get("GRAPHCL_OFFLINE", "").lower() in ("1", "true", "yes")


def _fetch(url: str, dest: Path, *, decompress: str | None = None) -> None:
    """Download ``url`` to ``dest`` through a temporary file and an atomic rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            url, timeout=_DOWNLOAD_TIMEOUT
        ) as resp:
            src = gzip.GzipFile(fileobj=resp) if decompress == "gzip" else resp
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe_member(name: str, strip: str) -> PurePosixPath | None:
    if not name.startswith(strip) or name.endswith("/"):
        return None
    rel = PurePosixPath(name[len(strip):])
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise DataFormatError(name, "unsafe path in archive")
    return rel


def _fetch_archive(url: str, folder: Path, strip: str = "") -> None:
    """Download a zip and extract its members (minus ``strip``) into ``folder``, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".archive.", suffix=".zip.part")
    os.close(fd)
    try:
        _fetch(url, Path(tmp))
        with zipfile.ZipFile(tmp) as zf:
            for info in zf.infolist():
                rel = _safe_member(info.filename, strip)
                if rel is None:
                    continue
                dest = folder / Path(*rel.parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd2, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                             suffix=".part")
                try:
                    with os.fdopen(fd2, "wb") as out, zf.open(info) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.replace(part, dest)
                except BaseException:
                    Path(part).unlink(missing_ok=True)
                    raise
    except zipfile.BadZipFile as err:
        raise DataFormatError(url, f"downloaded archive is not a valid zip ({err})") from err
    finally:
        Path(tmp).unlink(missing_ok=True)


def _missing_message(card: DatasetCard, folder: Path, missing: list[FileSpec],
                     reason: str) -> str:
    lines = [f"dataset {card.name!r}: {len(missing)} file(s) missing in {folder}:"]
    for spec in missing:
        src = f"  <- {spec.url}" if spec.url else ""
        sha = f"  (sha256 {spec.sha256})" if spec.sha256 else ""
        lines.append(f"  {folder / spec.path}{sha}{src}")
    for a in card.archives:
        lines.append(f"  (all of them are in {a['url']})")
    lines.append(reason)
    lines.append(
        f"Put the files at the paths above, or point GRAPHCL_DATA (or root=) at a folder that "
        f"contains {card.folder}/."
    )
    return "\n".join(lines)


def _download_missing(card: DatasetCard, folder: Path) -> None:
    missing = [s for s in card.files if not (folder / s.path).is_file()]
    if not missing:
        return
    can = all(s.url for s in missing) or bool(card.archives)
    if not can:
        raise FileNotFoundError(_missing_message(
            card, folder, missing, "The card gives no download URL for them."))
    if _offline():
        raise FileNotFoundError(_missing_message(
            card, folder, missing, "GRAPHCL_OFFLINE is set, so nothing was downloaded."))
    try:
        if all(s.url for s in missing):
            for s in missing:
                _fetch(s.url, folder / s.path, decompress=s.decompress)
        else:
            for a in card.archives:
                _fetch_archive(a["url"], folder, a.get("strip", ""))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise FileNotFoundError(_missing_message(
            card, folder, missing, f"Download failed ({err}).")) from err
    still = [s for s in card.files if not (folder / s.path).is_file()]
    if still:
        raise FileNotFoundError(_missing_message(
            card, folder, still, "The download did not provide them."))


# ---------------------------------------------------------------------------------------------
# Processed cache (plain tensors, weights_only round trip)
# ---------------------------------------------------------------------------------------------


def _graph_list_payload(graphs: list[Data]) -> dict[str, Any]:
    keys = list(graphs[0].keys())
    if any(set(g.keys()) != set(keys) for g in graphs):
        raise TypeError("graphs with different attributes cannot be cached together")
    cat: dict[str, Any] = {}
    for k in keys:
        vals = [g[k] for g in graphs]
        if isinstance(vals[0], Tensor):
            dim = graphs[0].__cat_dim__(k, vals[0])
            dim = dim % vals[0].dim() if vals[0].dim() else 0
            if vals[0].dim() == 0:
                vals = [v.view(1) for v in vals]
            cat[k] = {"cat": torch.cat(vals, dim), "dim": dim, "scalar": graphs[0][k].dim() == 0,
                      "len": [v.size(dim) for v in vals]}
        else:
            cat[k] = {"values": vals}
    return {"kind": "graphs", "num": len(graphs), "keys": keys, "items": cat}


def _graph_list_from_payload(p: dict[str, Any]) -> list[Data]:
    parts: dict[str, list] = {}
    for k in p["keys"]:
        item = p["items"][k]
        if "values" in item:
            parts[k] = item["values"]
        else:
            chunks = list(item["cat"].split(item["len"], dim=item["dim"]))
            parts[k] = [c.view(()) for c in chunks] if item["scalar"] else chunks
    return [Data(**{k: parts[k][i] for k in p["keys"]}) for i in range(p["num"])]


def _to_payload(obj: Any) -> dict[str, Any]:
    if isinstance(obj, LinkPropDataset):
        return {"kind": "linkprop", "data": obj.data.to_dict(), "split_edge": obj.split_edge}
    if isinstance(obj, TemporalData):
        return {"kind": "temporal", "store": obj.to_dict()}
    if isinstance(obj, Data):
        return {"kind": "data", "store": obj.to_dict()}
    if isinstance(obj, list) and obj and all(isinstance(g, Data) for g in obj):
        return _graph_list_payload(obj)
    if isinstance(obj, dict) and all(isinstance(v, Tensor) for v in obj.values()):
        return {"kind": "tensors", "items": obj}
    if isinstance(obj, Tensor):
        return {"kind": "tensor", "value": obj}
    raise TypeError(f"cannot cache an object of type {type(obj).__name__}")


def _from_payload(p: dict[str, Any]) -> Any:
    kind = p["kind"]
    if kind == "linkprop":
        return LinkPropDataset(Data.from_dict(p["data"]), p["split_edge"])
    if kind == "temporal":
        return TemporalData.from_dict(p["store"])
    if kind == "data":
        return Data.from_dict(p["store"])
    if kind == "graphs":
        return _graph_list_from_payload(p)
    if kind == "tensors":
        return dict(p["items"])
    if kind == "tensor":
        return p["value"]
    raise ValueError(f"unknown cached kind {kind!r}")


_READER_DIGEST: str | None = None


def _reader_digest() -> str:
    """A hash of the reader/registry code, so a code change never serves a stale cache."""
    global _READER_DIGEST
    if _READER_DIGEST is None:
        h = hashlib.sha256()
        for mod in (readers.__file__, __file__):
            h.update(Path(mod).read_bytes())
        _READER_DIGEST = h.hexdigest()[:16]
    return _READER_DIGEST


def _cache_path(card: DatasetCard, folder: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    r"""The processed copy's file, keyed on the reader code, the card's reading options and the
    sha256 of every file as read now (``rows`` from :func:`_check_files` with ``hash_all``), so
    a changed byte never serves a stale copy, whatever the file's size and mtime say."""
    ident: list[Any] = []
    if rows is not None:
        ident = [[Path(r["path"]).name, r["digest"]] for r in rows]
    if not card.files:  # no file list: key on the content of every file under the folder
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                ident.append([str(p.relative_to(folder)), _digest(p)])
    blob = json.dumps({"code": _reader_digest(), "format": card.format, "entry": card.entry,
                       "read": card.read, "files": ident}, sort_keys=True, default=str)
    return cache_dir() / f"{card.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.pt"


def _save_cache(path: Path, obj: Any, stats_ok: bool) -> None:
    try:
        payload = {"payload": _to_payload(obj), "stats_ok": stats_ok}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        try:
            torch.save(payload, tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache file is an ordinary file
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except (OSError, TypeError) as err:  # caching is an optimisation: never fail a load over it
        warnings.warn(f"could not write the processed cache {path}: {err}", stacklevel=3)


def _load_cache(path: Path) -> tuple[Any, bool] | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        return _from_payload(blob["payload"]), bool(blob["stats_ok"])
    except Exception as err:  # a corrupt cache entry is rebuilt, not fatal
        warnings.warn(f"ignoring unreadable processed cache {path}: {err}", stacklevel=3)
        return None


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def _data_stats(d: Data) -> dict[str, Any]:
    s: dict[str, Any] = {"num_nodes": int(d.num_nodes)}
    if d.edge_index is not None:
        s["num_edges"] = int(d.edge_index.size(1))
    if d.x is not None:
        s["num_features"] = int(d.x.size(-1))
    y = d.y if "y" in d else None
    if isinstance(y, Tensor) and y.dim() == 1 and not y.is_floating_point() and y.numel():
        s["num_classes"] = int(y.max()) + 1
    for split in ("train", "val", "test"):
        m = d.get(f"{split}_mask")
        if isinstance(m, Tensor):
            s[f"num_{split}"] = int(m.sum())
    if "sign" in d:
        s["num_positive"] = int((d.sign > 0).sum())
        s["num_negative"] = int((d.sign < 0).sum())
    return s


def compute_stats(obj: Any) -> dict[str, Any]:
    r"""The statistics a card's ``[stats]`` table may check, computed from a loaded object.

    * :class:`Data`: ``num_nodes``, ``num_edges`` (columns of ``edge_index``), ``num_features``,
      ``num_classes``, ``num_train``/``num_val``/``num_test`` (mask sums), ``num_positive``/
      ``num_negative`` (signed graphs).
    * :class:`TemporalData`: ``num_nodes``, ``num_events``, ``msg_dim``, ``num_positive``/
      ``num_negative`` (sign), ``num_positive_labels`` (sum of ``y``).
    * :class:`LinkPropDataset`: ``num_nodes``, ``num_edges``, ``num_train_edges``,
      ``num_valid_edges``, ``num_valid_neg``, ``num_test_edges``, ``num_test_neg``.
    * ``list[Data]``: ``num_graphs``, ``num_nodes`` and ``num_edges`` (totals),
      ``num_features``, ``num_edge_features``, ``num_classes``, ``class_counts``.
    * ``dict`` of tensors (IDX): ``<key>_shape`` and, for 1-D integer tensors, ``<key>_counts``.
    """
    if isinstance(obj, LinkPropDataset):
        s = {"num_nodes": int(obj.data.num_nodes), "num_edges": int(obj.data.edge_index.size(1))}
        for split, d in obj.split_edge.items():
            if "edge" in d:
                s[f"num_{split}_edges"] = int(d["edge"].size(0))
            if "edge_neg" in d:
                s[f"num_{split}_neg"] = int(d["edge_neg"].size(0))
        return s
    if isinstance(obj, TemporalData):
        s = {"num_nodes": int(obj.num_nodes), "num_events": int(obj.num_events),
             "msg_dim": int(obj.msg.size(-1)) if obj.msg is not None else 0}
        if "sign" in obj:
            s["num_positive"] = int((obj.sign > 0).sum())
            s["num_negative"] = int((obj.sign < 0).sum())
        if "y" in obj and isinstance(obj.y, Tensor):
            s["num_positive_labels"] = int((obj.y > 0).sum())
        return s
    if isinstance(obj, Data):
        return _data_stats(obj)
    if isinstance(obj, list) and obj and all(isinstance(g, Data) for g in obj):
        s = {"num_graphs": len(obj), "num_nodes": sum(int(g.num_nodes) for g in obj),
             "num_edges": sum(int(g.edge_index.size(1)) for g in obj)}
        if obj[0].x is not None:
            s["num_features"] = int(obj[0].x.size(-1))
        if obj[0].edge_attr is not None:
            s["num_edge_features"] = int(obj[0].edge_attr.size(-1))
        if obj[0].y is not None and not obj[0].y.is_floating_point():
            y = torch.cat([g.y.view(-1) for g in obj])
            s["num_classes"] = int(y.max()) + 1
            s["class_counts"] = torch.bincount(y).tolist()
        return s
    if isinstance(obj, dict):
        s = {}
        for k, v in obj.items():
            s[f"{k}_shape"] = list(v.shape)
            if v.dim() == 1 and not v.is_floating_point():
                s[f"{k}_counts"] = torch.bincount(v.long()).tolist()
        return s
    if isinstance(obj, Tensor):
        return {"shape": list(obj.shape)}
    raise TypeError(f"no statistics for an object of type {type(obj).__name__}")


def _compare_stats(card: DatasetCard, obj: Any) -> dict[str, tuple[Any, Any]]:
    """``{key: (expected, actual)}`` for every card statistic that does not match."""
    actual = compute_stats(obj)
    bad = {}
    for key, expected in card.stats.items():
        got = actual.get(key, "<not computable>")
        exp = list(expected) if isinstance(expected, (list, tuple)) else expected
        if got != exp:
            bad[key] = (expected, got)
    return bad


def _stats_error(card: DatasetCard, folder: Path, bad: dict[str, tuple[Any, Any]]) -> DataFormatError:
    detail = "; ".join(f"{k}: expected {e}, got {a}" for k, (e, a) in bad.items())
    return DataFormatError(folder, f"statistics do not match card {card.name!r} "
                                   f"({card.source}): {detail}")


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def _parse(card: DatasetCard, folder: Path) -> Any:
    target = folder / card.entry if card.entry else folder
    return read(target, card.format, **card.read)


def _file_problems(card: DatasetCard, rows: list[dict[str, Any]]) -> None:
    bad = [r for r in rows if r["problem"] and r["problem"] != "missing"]
    if bad:
        r = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataFormatError(r["path"], f"dataset {card.name!r}: {r['problem']}{more}; "
                                         "delete the file to download it again")


def load(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> Any:
    r"""Load a dataset by card name: the same object :func:`read` returns for its format.

    Args:
        name (str): card name or alias (case-insensitive), e.g. ``'cora'``, ``'uci'``.
        root (str or os.PathLike, optional): the data root; see :func:`data_root`.
            (default: :obj:`None`)
        download (bool, optional): fetch missing files from the card's URLs (needs a network;
            ``GRAPHCL_OFFLINE=1`` forbids it). (default: :obj:`True`)
        verify (bool, optional): check sizes and sha256 of the files and the card's
            statistics. (default: :obj:`True`)

    Raises:
        FileNotFoundError: files are missing and could not be downloaded; the message says
            which, from where, and where to put them.
        DataFormatError: a checksum or statistic does not match, or a file is malformed.
    """
    card = get_card(name)
    folder = data_root(root) / card.folder
    missing = [s for s in card.files if not (folder / s.path).is_file()]
    if missing:
        if not download:
            raise FileNotFoundError(_missing_message(
                card, folder, missing, "download=False, so nothing was downloaded."))
        _download_missing(card, folder)
    elif not card.files and not folder.exists():
        raise FileNotFoundError(f"dataset {card.name!r}: {folder} not found")
    rows = _check_files(card, folder, memo=False, hash_all=True)  # the bytes about to be read
    if verify:
        _file_problems(card, rows)
    cpath = _cache_path(card, folder, rows)
    cached = _load_cache(cpath)
    if cached is not None:
        obj, stats_ok = cached
        if verify and not stats_ok:
            bad = _compare_stats(card, obj)
            if bad:
                raise _stats_error(card, folder, bad)
            _save_cache(cpath, obj, True)
        return obj
    obj = _parse(card, folder)
    if verify:
        bad = _compare_stats(card, obj)
        if bad:
            raise _stats_error(card, folder, bad)
    _save_cache(cpath, obj, verify)
    return obj


@dataclass
class VerifyReport:
    r"""What :func:`verify` found: files present and matching, statistics matching."""

    name: str
    folder: Path
    files: list[dict[str, Any]]
    present: bool
    verified: bool
    stats_ok: bool | None
    stats: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.present and self.verified and self.stats_ok is not False and not self.errors

    def __str__(self) -> str:
        lines = [f"{self.name}: {'OK' if self.ok else 'FAILED'} ({self.folder})"]
        for r in self.files:
            state = r["problem"] or ("sha256 ok" if r["sha256_ok"] else "present")
            lines.append(f"  {Path(r['path']).name:<40} {state}")
        lines.append(f"  statistics: {'ok' if self.stats_ok else 'not checked' if self.stats_ok is None else 'MISMATCH'}")
        for k, (e, a) in self.stats.items():
            lines.append(f"    {k}: expected {e}, got {a}")
        lines.extend(f"  error: {e}" for e in self.errors)
        return "\n".join(lines)


def verify(name: str, root: str | os.PathLike | None = None) -> VerifyReport:
    r"""Check a dataset without downloading: files present, checksums, then the statistics.

    Returns:
        VerifyReport: ``present`` (all files there), ``verified`` (every file with a sha256
        matched and no size mismatch), ``stats_ok`` (:obj:`None` when parsing was not reached),
        ``stats`` (the mismatches), ``errors`` (parse errors), ``ok``.
    """
    card = get_card(name)
    folder = data_root(root) / card.folder
    rows = _check_files(card, folder)
    present = all(r["present"] for r in rows) and (bool(rows) or folder.exists())
    verified = present and all(r["problem"] is None for r in rows)
    report = VerifyReport(card.name, folder, rows, present, verified, None)
    if not verified:
        return report
    try:
        cpath = _cache_path(card, folder, _check_files(card, folder, hash_all=True))
        cached = _load_cache(cpath)
        obj = cached[0] if cached is not None else _parse(card, folder)
        report.stats = _compare_stats(card, obj)
        report.stats_ok = not report.stats
        if cached is None or (report.stats_ok and not cached[1]):
            _save_cache(cpath, obj, report.stats_ok)
    except (DataFormatError, FileNotFoundError, ValueError) as err:
        report.errors.append(str(err))
    return report


def _name_from_path(path: Path, fmt: str) -> str:
    if fmt == "planetoid":
        names = readers._planetoid_names(path)
        if len(names) == 1:
            return names[0]
    if fmt == "tu":
        try:
            return readers._tu_folder(path, None)[1].lower()
        except (FileNotFoundError, DataFormatError):
            pass
    if fmt == "ogb-linkprop":
        return readers._ogb_name(path)
    base = path.name
    for suffix in (".gz", ".csv", ".txt", ".tsv", ".npz"):
        base = base.removesuffix(suffix)
    if fmt == "ml":
        base = base.removeprefix("ml_")
    return base.lower() or str(path)


def _query_options(query: str, spec: str) -> dict[str, Any]:
    r"""``time=ts&weight=false&src=0`` → reader keyword arguments (integers are column
    positions, ``true``/``false`` flags, anything else a column name)."""
    out: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"dataset {spec!r}: options after '?' are key=value pairs joined "
                             f"by '&', got {item!r}")
        low = value.strip().lower()
        out[key.strip()] = (True if low == "true" else False if low == "false" else
                            int(value) if value.strip().lstrip("-").isdigit() else value.strip())
    return out


def resolve_dataset(spec: str, root: str | os.PathLike | None = None) -> tuple[str, Any]:
    r"""Turn a command-line dataset spec into ``(name, object)``.

    ``spec`` is a card name or alias (``"cora"``, loaded with :func:`load`), or
    ``"FORMAT:PATH"`` (``"planetoid:/data/CiteSeer/raw"``, read with :func:`read`; the name is
    inferred from the files; reader options may follow a ``?``, as in
    ``"edgelist:my.csv?time=ts&weight=false"``), or an existing path whose format can be
    inferred.
    """
    fmt, sep, rest = spec.partition(":")
    if sep:
        try:
            key = readers._normalise_format(fmt)
        except ValueError:
            key = None
        if key is not None:
            rest, _, query = rest.partition("?")
            kw = _query_options(query, spec) if query else {}
            path = Path(rest).expanduser()
            return _name_from_path(path, key), read(path, key, **kw)
    path = Path(spec).expanduser()
    if (os.sep in spec or spec.startswith(".")) and path.exists():
        key = readers.infer_format(path)
        return _name_from_path(path, key), read(path, key)
    card = get_card(spec)
    return card.name, load(card.name, root)

