"""Dataset cards, load() (checksums, cache, download, statistics), verify() and
resolve_dataset(): synthetic cards in tmp dirs, plus every shipped dataset through load()."""

import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data, TemporalData

from graphcl.data import registry
from graphcl.data.errors import DataFormatError
from graphcl.data.readers import LinkPropDataset
from graphcl.data.registry import (
    DatasetCard,
    cache_dir,
    compute_stats,
    data_root,
    get_card,
    list_cards,
    load,
    resolve_dataset,
    verify,
)

SHIPPED = [
    "cora", "ogbl-ddi", "bitcoin-otc", "epinions", "collegemsg", "wikipedia-nofeat", "mutag",
    "proteins", "enzymes", "imdb-binary", "nci1", "ptc_mr", "mnist",
]
EVENTS = "1 2 10\n2 3 20\n3 1 30\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated cards / data root / cache folders."""
    dirs = {k: tmp_path / k for k in ("cards", "data", "cache", "src")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("GRAPHCL_CARDS", str(dirs["cards"]))
    monkeypatch.setenv("GRAPHCL_DATA", str(dirs["data"]))
    monkeypatch.setenv("GRAPHCL_CACHE", str(dirs["cache"]))
    monkeypatch.delenv("GRAPHCL_OFFLINE", raising=False)
    return dirs


def write_card(cards: Path, name: str, body: str) -> Path:
    p = cards / f"{name}.toml"
    p.write_text(f'name = "{name}"\n' + body)
    return p


def toy_card(env, *, sha256=None, url=None, stats="num_nodes = 3\nnum_events = 3\n", extra=""):
    lines = ['format = "snap-temporal"', 'folder = "toy"', 'entry = "events.txt"',
             'aliases = ["Toy-Alias"]', extra, "[stats]", stats, "[[files]]", 'path = "events.txt"']
    if sha256:
        lines.append(f'sha256 = "{sha256}"')
    if url:
        lines.append(f'url = "{url}"')
    return write_card(env["cards"], "toy", "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------
# Cards
# ------------------------------------------------------------------------------------------------


def test_every_shipped_dataset_has_a_complete_card():
    cards = {c.name: c for c in list_cards()}
    for name in SHIPPED:
        card = cards[name]
        assert card.verifiable, name  # every file has a sha256
        assert card.stats and card.citation and card.license and card.homepage, name
        assert all(f.size for f in card.files), name
        assert card.files[0].url or card.archives, name  # a real download source
    assert get_card("UCI").name == "collegemsg"
    assert get_card("jodie-wikipedia-nofeat").name == "wikipedia-nofeat"
    assert get_card("ddi").name == "ogbl-ddi"


def test_shipped_cards_match_the_files(data_root):
    for name in SHIPPED:
        card = get_card(name)
        for f in card.files:
            p = data_root / card.folder / f.path
            assert p.stat().st_size == f.size, p


def test_unknown_card_suggests(env):
    with pytest.raises(KeyError, match="did you mean.*cora"):
        get_card("coraa")


def test_card_lookup_order_and_validation(env):
    write_card(env["cards"], "cora", 'format = "planetoid"\nfolder = "elsewhere"\n')
    assert get_card("cora").folder == "elsewhere"  # $GRAPHCL_CARDS shadows the repo card
    assert get_card("mutag").folder == "tu/MUTAG/raw"  # still found in the repo folder
    bad = write_card(env["cards"], "bad", 'format = "planetoid"\nfolder = "x"\nsha = 1\n')
    with pytest.raises(DataFormatError, match="unknown card key.*sha"):
        DatasetCard.from_toml(bad)
    bad.write_text('name = "bad"\nformat = "graphml"\nfolder = "x"\n')
    with pytest.raises(DataFormatError, match="unknown format 'graphml'"):
        DatasetCard.from_toml(bad)
    bad.write_text('name = "bad"\nformat = "tu"\n')
    with pytest.raises(DataFormatError, match="'folder'"):
        DatasetCard.from_toml(bad)
    bad.write_text("name = [")
    with pytest.raises(DataFormatError, match="invalid TOML"):
        DatasetCard.from_toml(bad)


def test_data_root_and_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHCL_DATA", raising=False)
    monkeypatch.delenv("GRAPHCL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "graphcl" / "data"
    assert cache_dir() == tmp_path / "xdg" / "graphcl" / "processed"
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "c"))
    assert data_root() == tmp_path / "env" and cache_dir() == tmp_path / "c"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"


# ------------------------------------------------------------------------------------------------
# load(): checksums, cache, statistics
# ------------------------------------------------------------------------------------------------


def test_load_verifies_caches_and_reuses(env, monkeypatch):
    (env["data"] / "toy").mkdir()
    (env["data"] / "toy" / "events.txt").write_text(EVENTS)
    toy_card(env, sha256=sha(EVENTS.encode()))
    d = load("toy-alias")
    assert isinstance(d, TemporalData) and d.num_nodes == 3 and d.t.tolist() == [10, 20, 30]
    cached = list(env["cache"].glob("toy-*.pt"))
    assert len(cached) == 1 and (env["cache"] / "checksums.json").exists()
    assert not list((env["data"] / "toy").glob("*.pt"))  # nothing written into the data root

    def boom(*a, **k):
        raise AssertionError("should not run on a warm load")

    monkeypatch.setattr(registry, "_parse", boom)  # the processed copy is served ...
    hashed = []
    real = registry._sha256_stream
    monkeypatch.setattr(registry, "_sha256_stream", lambda f: hashed.append(1) or real(f))
    again = load("toy")
    assert torch.equal(again.src, d.src) and torch.equal(again.t, d.t)
    assert hashed  # ... but only after the bytes were hashed again (never a memo at load)


def test_a_byte_changed_with_size_and_mtime_kept_is_caught(env):
    # bit rot, `cp -p`, `rsync -t`: same size and mtime, other content
    f = env["data"] / "toy" / "events.txt"
    f.parent.mkdir()
    f.write_text(EVENTS)
    toy_card(env, sha256=sha(EVENTS.encode()))
    assert load("toy").t.tolist() == [10, 20, 30]
    assert verify("toy").ok  # memoised digest: fine for listing
    st = f.stat()
    f.write_text(EVENTS.replace("30", "31"))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(DataFormatError, match="sha256 mismatch"):
        load("toy")
    # without verification the processed copy of the old bytes is not served either
    assert load("toy", verify=False).t.tolist() == [10, 20, 31]


@pytest.mark.parametrize("extra, message", [
    ('folder = "/etc"', "must be a relative path"),
    ('folder = "../outside"', "must be a relative path"),
    ('folder = "toy"\n[[files]]\npath = "../../x"', "must be a relative path"),
    ('folder = "toy"\n[[files]]\npath = "x"\nurl = "file:///etc/passwd"', "only http"),
    ('folder = "toy"\n[[archives]]\nurl = "ftp://h/x.zip"', "only http"),
])
def test_cards_cannot_reach_outside_the_data_root(env, extra, message):
    write_card(env["cards"], "bad", f'format = "snap-temporal"\n{extra}\n')
    with pytest.raises(DataFormatError, match=message):
        get_card("bad")


def test_checksum_mismatch_names_the_file(env):
    (env["data"] / "toy").mkdir()
    (env["data"] / "toy" / "events.txt").write_text(EVENTS)
    toy_card(env, sha256="0" * 64)
    with pytest.raises(DataFormatError, match=r"events\.txt: dataset 'toy': sha256 mismatch"):
        load("toy")
    assert load("toy", verify=False).num_events == 3
    rep = verify("toy")
    assert rep.present and not rep.verified and not rep.ok and rep.stats_ok is None
    assert "sha256 mismatch" in str(rep)


def test_statistics_mismatch_is_an_error(env):
    (env["data"] / "toy").mkdir()
    (env["data"] / "toy" / "events.txt").write_text(EVENTS)
    toy_card(env, stats="num_nodes = 4\nnum_events = 3\nnum_edgez = 1\n")
    with pytest.raises(DataFormatError, match=r"num_nodes: expected 4, got 3; num_edgez: "
                                              r"expected 1, got <not computable>"):
        load("toy")
    assert not list(env["cache"].glob("toy-*.pt"))  # a bad parse is never cached
    rep = verify("toy")
    assert rep.verified and rep.stats_ok is False and rep.stats["num_nodes"] == (4, 3)


def test_corrupt_cache_is_rebuilt(env):
    (env["data"] / "toy").mkdir()
    (env["data"] / "toy" / "events.txt").write_text(EVENTS)
    toy_card(env)
    load("toy")
    (cpath,) = env["cache"].glob("toy-*.pt")
    cpath.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable processed cache"):
        assert load("toy").num_events == 3


def test_cache_key_follows_file_changes_without_sha(env):
    folder = env["data"] / "toy"
    folder.mkdir()
    (folder / "events.txt").write_text(EVENTS)
    toy_card(env, stats="")
    assert load("toy").num_events == 3
    (folder / "events.txt").write_text(EVENTS + "1 3 40\n")
    os.utime(folder / "events.txt", ns=(1, 1))
    assert load("toy").num_events == 4


# ------------------------------------------------------------------------------------------------
# Download (a local HTTP server on 127.0.0.1 stands in for the network) and offline errors
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def http(env):
    r"""Serves ``env["src"]`` at ``http://127.0.0.1:<port>/``; returns ``url(name)``."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = functools.partial(Quiet, directory=str(env["src"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()
    server.server_close()


def test_missing_files_offline_message(env, monkeypatch):
    toy_card(env, url="https://example.invalid/events.txt")
    monkeypatch.setenv("GRAPHCL_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as info:
        load("toy")
    msg = str(info.value)
    assert str(env["data"] / "toy" / "events.txt") in msg
    assert "https://example.invalid/events.txt" in msg and "GRAPHCL_DATA" in msg
    with pytest.raises(FileNotFoundError, match="download=False"):
        load("toy", download=False)
    rep = verify("toy")
    assert not rep.present and not rep.ok and rep.files[0]["problem"] == "missing"


def test_download_failure_is_file_not_found(env, http):
    toy_card(env, url=http("absent.txt"))
    with pytest.raises(FileNotFoundError, match="Download failed"):
        load("toy")
    assert not list((env["data"] / "toy").glob("*.part"))


def test_missing_without_url(env):
    toy_card(env)
    with pytest.raises(FileNotFoundError, match="gives no download URL"):
        load("toy")


def test_download_plain_and_gzip(env, http):
    src = env["src"] / "events.txt"
    src.write_text(EVENTS)
    toy_card(env, sha256=sha(EVENTS.encode()), url=http("events.txt"))
    assert load("toy").num_events == 3
    assert (env["data"] / "toy" / "events.txt").read_text() == EVENTS
    assert not list((env["data"] / "toy").glob(".*part"))

    gz = env["src"] / "events.txt.gz"
    gz.write_bytes(gzip.compress(EVENTS.encode()))
    (env["data"] / "toy" / "events.txt").unlink()
    toy_card(env, sha256=sha(EVENTS.encode()), url=http("events.txt.gz"), extra='')
    text = (env["cards"] / "toy.toml").read_text() + 'decompress = "gzip"\n'
    (env["cards"] / "toy.toml").write_text(text)
    assert load("toy").num_events == 3


def test_download_archive_with_strip(env, http):
    z = env["src"] / "toy.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("TOY/TOY_A.txt", "1, 2\n2, 1\n")
        zf.writestr("TOY/TOY_graph_indicator.txt", "1\n1\n")
        zf.writestr("TOY/TOY_graph_labels.txt", "1\n")
    body = "\n".join([
        'format = "tu"', 'folder = "tu/TOY/raw"', "[stats]", "num_graphs = 1",
        "[[archives]]", f'url = "{http("toy.zip")}"', 'strip = "TOY/"',
        "[[files]]", 'path = "TOY_A.txt"', "[[files]]", 'path = "TOY_graph_indicator.txt"',
    ]) + "\n"
    write_card(env["cards"], "toytu", body)
    graphs = load("toytu")
    assert len(graphs) == 1 and graphs[0].edge_index.tolist() == [[0, 1], [1, 0]]
    assert (env["data"] / "tu" / "TOY" / "raw" / "TOY_graph_labels.txt").exists()


def test_unsafe_archive_member_is_rejected(env, http):
    z = env["src"] / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../escape.txt", "x")
    body = "\n".join(['format = "tu"', 'folder = "e"', "[[archives]]", f'url = "{http("evil.zip")}"',
                      "[[files]]", 'path = "E_A.txt"']) + "\n"
    write_card(env["cards"], "evil", body)
    with pytest.raises(DataFormatError, match="unsafe path"):
        load("evil")
    assert not (env["data"] / "escape.txt").exists()


def test_content_sha256_accepts_recompressed_copy(env):
    folder = env["data"] / "m"
    folder.mkdir()
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])
    (folder / "a-idx1-ubyte.gz").write_bytes(gzip.compress(raw, mtime=0))
    body = "\n".join(['format = "idx"', 'folder = "m"', "[[files]]", 'path = "a-idx1-ubyte.gz"',
                      f'sha256 = "{"1" * 64}"', f'content_sha256 = "{sha(raw)}"']) + "\n"
    write_card(env["cards"], "m", body)
    assert load("m")["a"].tolist() == [7, 9]


# ------------------------------------------------------------------------------------------------
# resolve_dataset
# ------------------------------------------------------------------------------------------------


def test_resolve_dataset_paths(tmp_path, env):
    p = tmp_path / "CollegeMsg.txt"
    p.write_text(EVENTS)
    name, obj = resolve_dataset(f"snap-temporal:{p}")
    assert name == "collegemsg" and obj.num_events == 3
    name, obj = resolve_dataset(str(p))  # an existing path: format inferred
    assert name == "collegemsg" and isinstance(obj, TemporalData)
    (env["data"] / "toy").mkdir()
    (env["data"] / "toy" / "events.txt").write_text(EVENTS)
    toy_card(env)
    name, obj = resolve_dataset("Toy-Alias")
    assert name == "toy" and obj.num_events == 3
    with pytest.raises(KeyError):
        resolve_dataset("no-such-dataset")


# ------------------------------------------------------------------------------------------------
# Every shipped dataset through load(), statistics verified (data root is read-only)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("graphcl-cache")


@pytest.fixture
def real(data_root, shared_cache, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    monkeypatch.setenv("GRAPHCL_CACHE", str(shared_cache))
    monkeypatch.setenv("GRAPHCL_OFFLINE", "1")
    monkeypatch.delenv("GRAPHCL_CARDS", raising=False)
    return data_root


@pytest.mark.parametrize("name", SHIPPED)
def test_load_shipped_dataset(real, name):
    card = get_card(name)
    obj = load(name)
    stats = compute_stats(obj)
    for key, expected in card.stats.items():
        assert stats[key] == expected, (name, key)
    again = load(name)  # from the processed cache
    assert compute_stats(again) == stats


def test_shipped_headline_statistics(real):
    cora = load("cora")
    assert isinstance(cora, Data)
    assert (cora.num_nodes, cora.num_edges, cora.num_features) == (2708, 10556, 1433)
    assert int(cora.y.max()) + 1 == 7 and cora.is_undirected()
    ddi = load("ogbl-ddi")
    assert isinstance(ddi, LinkPropDataset) and ddi.data.num_nodes == 4267
    assert ddi.split_edge["train"]["edge"].shape == (1_067_911, 2)
    assert ddi.split_edge["valid"]["edge_neg"].shape == (101_882, 2)
    assert ddi.split_edge["test"]["edge_neg"].shape == (95_599, 2)
    otc = load("bitcoin-otc")
    assert (otc.num_nodes, otc.num_events) == (5881, 35592)
    assert bool((otc.t[1:] >= otc.t[:-1]).all()) and otc.node_ids.tolist()[:2] == [1, 2]
    uci = load("uci")
    assert (uci.num_nodes, uci.num_events) == (1899, 59835)
    wiki = load("wikipedia-nofeat")
    assert (wiki.num_nodes, wiki.num_events) == (9227, 157474)
    assert int(wiki.src.max()) == 8226 and int(wiki.dst.min()) == 8227
    epi = load("epinions")
    assert (epi.num_nodes, epi.num_edges) == (131_828, 841_372)
    mnist = load("mnist")
    assert mnist["train_images"].shape == (60000, 28, 28)
    assert mnist["test_labels"].shape == (10000,)
    assert [len(load(n)) for n in ("mutag", "proteins", "enzymes")] == [188, 1113, 600]


def test_verify_report_shipped(real):
    rep = verify("cora")
    assert rep.ok and rep.present and rep.verified and rep.stats_ok
    assert all(r["sha256_ok"] for r in rep.files)
    assert "cora: OK" in str(rep)
    missing = verify("pubmed")  # a download-only card: nothing shipped
    assert not missing.present and not missing.ok


def test_resolve_dataset_card_and_path(real):
    name, obj = resolve_dataset("cora")
    assert name == "cora" and obj.num_nodes == 2708
    name, obj = resolve_dataset(f"planetoid:{real / 'planetoid' / 'Cora' / 'raw'}")
    assert name == "cora" and obj.num_edges == 10556
    name, graphs = resolve_dataset(f"tu:{real / 'tu' / 'MUTAG'}")
    assert name == "mutag" and len(graphs) == 188


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("GRAPHCL_NETWORK_TESTS") != "1",
                    reason="needs internet; set GRAPHCL_NETWORK_TESTS=1")
def test_real_download_collegemsg(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GRAPHCL_OFFLINE", raising=False)
    monkeypatch.delenv("GRAPHCL_CARDS", raising=False)
    d = load("collegemsg", root=tmp_path / "data")  # SNAP .gz, decompressed, sha256-checked
    assert (d.num_nodes, d.num_events) == (1899, 59835)


def test_cached_objects_equal_fresh_parse(real):
    from graphcl.data.readers import read

    for name in ("mutag", "imdb-binary", "bitcoin-otc", "ogbl-ddi"):
        card = get_card(name)
        load(name)
        cached = load(name)  # served from the processed cache
        folder = real / card.folder
        fresh = read(folder / card.entry if card.entry else folder, card.format, **card.read)
        if isinstance(fresh, list):
            pairs = list(zip(fresh, cached, strict=True))
        elif isinstance(fresh, LinkPropDataset):
            pairs = [(fresh.data, cached.data)]
            for kind, d in fresh.split_edge.items():
                for k, v in d.items():
                    assert torch.equal(v, cached.split_edge[kind][k])
        else:
            pairs = [(fresh, cached)]
        for a, b in pairs:
            assert set(a.keys()) == set(b.keys()), name
            for k in a.keys():
                assert torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]
