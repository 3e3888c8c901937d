import json

import pytest

from graphcl import runners
from graphcl.cli import main
from graphcl.config import method_config

RESULT_KEYS = {"method", "dataset", "metrics", "seeds", "config", "wall_time_s", "peak_rss_mb",
               "command", "versions"}


def test_run_writes_results_json(tmp_path, capsys):
    out = tmp_path / "res" / "gae.json"
    rc = main(["run", "gae", "--dataset", "synthetic:sbm", "--seeds", "2", "--out", str(out),
               "--set", "epochs=5"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res) == RESULT_KEYS
    assert res["method"] == "gae" and res["dataset"] == "synthetic-sbm"
    assert res["seeds"] == [0, 1]
    assert res["config"]["epochs"] == 5
    m = res["metrics"]["test_hits@100"]
    assert set(m) == {"mean", "std", "values"} and len(m["values"]) == 2
    assert all(0.0 <= v <= 1.0 for v in m["values"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == res
    assert not (tmp_path / "res" / "gae.json.partial.json").exists()

    rc = main(["report", str(tmp_path / "res")])
    table = capsys.readouterr().out
    assert "| synthetic-sbm | gae | hits@100 |" in table


def test_killed_run_resumes_finished_seeds(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    calls = []
    real = runners.get_method("gae")

    def flaky(name, data, config, seed, **kw):
        calls.append(seed)
        if seed == 1 and len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(name, data, config, seed, progress=False, **kw)

    monkeypatch.setitem(runners._METHODS, "gae", flaky)
    with pytest.raises(KeyboardInterrupt):
        runners.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                               overrides={"epochs": 3})
    assert (tmp_path / "r.json.partial.json").exists()
    res = runners.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                                 overrides={"epochs": 3})
    assert calls == [0, 1, 1]
    assert res["seeds"] == [0, 1] and len(res["metrics"]["test_auc"]["values"]) == 2


def test_quickstart_runs_offline(capsys, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", "/nonexistent")
    assert main(["quickstart"]) == 0
    out = capsys.readouterr().out
    assert "| GAE" in out and "| common neighbours |" in out
    def no_nan(c):
        raise AssertionError(f"results JSON contains {c}")

    res = json.loads(out.strip().splitlines()[-1], parse_constant=no_nan)
    assert res["metrics"]["test_auc"]["std"] is None  # one seed: no spread
    # A GCN link predictor beats chance clearly on the planted-partition graph.
    assert res["metrics"]["test_auc"]["mean"] > 0.8


def test_bad_cli_input(tmp_path):
    with pytest.raises(KeyError, match="unknown method"):
        main(["run", "nope", "--dataset", "synthetic:sbm"])
    with pytest.raises(ValueError, match="unknown synthetic"):
        main(["run", "gae", "--dataset", "synthetic:nope"])
    with pytest.raises(SystemExit):
        main(["run", "gae", "--dataset", "synthetic:sbm", "--set", "noequals"])
    with pytest.raises(SystemExit, match="number of seeds"):
        main(["run", "gae", "--dataset", "synthetic:sbm", "--seeds", "0"])
    with pytest.raises(SystemExit, match="comma-separated integers"):
        main(["run", "gae", "--dataset", "synthetic:sbm", "--seed-list", "0,a"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        method_config("gae", path=bad)
    with pytest.raises(FileNotFoundError, match="no config for method"):
        method_config("no-such-method")


def test_method_config_merges_sections():
    cfg = method_config("gae", "Cora", overrides={"lr": 0.5})
    assert cfg["protocol"] == "ncnc" and cfg["lr"] == 0.5 and cfg["hidden"] == 64
    assert method_config("gae", "unknown-graph")["protocol"] == "random"


def test_datasets_command_verifies_shipped_data(data_root, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    rc = main(["datasets"])
    out = capsys.readouterr().out
    assert rc == 0, out
    for name in ("cora", "ogbl-ddi", "bitcoin-otc", "collegemsg", "wikipedia-nofeat", "mutag"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert "verified" in line, line


def test_run_on_format_path_without_card(data_root, tmp_path, capsys):
    spec = f"planetoid:{data_root / 'planetoid' / 'Cora' / 'raw'}"
    rc = main(["run", "gae", "--dataset", spec, "--set", "epochs=3", "protocol=random",
               "--out", str(tmp_path / "r.json")])
    assert rc == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["dataset"] == "cora"
    assert res["config"]["epochs"] == 3 and res["config"]["protocol"] == "random"
    assert 0.0 <= res["metrics"]["test_auc"]["mean"] <= 1.0


def test_results_record_the_effective_config(tmp_path, monkeypatch):
    seen = []

    def fake(name, data, config, seed, **kw):
        seen.append(config["epochs"])
        return {"test_auc": 0.5 + 0.1 * seed}

    fake.effective_config = lambda name, cfg: {**cfg, "resolved_for": name}
    monkeypatch.setitem(runners._METHODS, "gae", fake)
    res = runners.run_experiment("gae", "synthetic:sbm", seeds=2, out=tmp_path / "r.json",
                                 overrides={"epochs": 3})
    assert seen == [3, 3]
    assert res["effective_config"]["resolved_for"] == "synthetic-sbm"
    assert "resolved_for" not in res["config"]  # the config as given stays as it was


def test_link_methods_record_the_decoder_they_ran():
    from graphcl.train.link import run_ncnc

    cfg = method_config("ncnc", "cora")
    cfg["method"] = "ncn"
    eff = run_ncnc.effective_config("cora", cfg)
    assert eff["predictor"] == "ncn" and cfg["predictor"] == "ncnc"
    assert eff["batch_size"] == 1152  # the authors' Cora flags
    assert not any(k.startswith("_") for k in eff)


def test_link_run_drops_resume_state_once_the_seed_is_recorded(tmp_path, monkeypatch):
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.train import link

    data = attributed_sbm(num_nodes=120, num_blocks=2, p_in=0.1, p_out=0.005, num_features=8,
                          seed=0)
    monkeypatch.setattr(runners, "resolve", lambda dataset, root=None: ("cora", data))
    states_seen = []
    real = link.train_link_model

    def spy(*a, **kw):
        res = real(*a, **kw)
        states_seen.extend(p.name for p in tmp_path.glob("*.state.pt"))
        return res

    monkeypatch.setattr(link, "train_link_model", spy)
    over = {"epochs": 2, "hiddim": 8, "batch_size": 64, "testbs": 256}
    res = runners.run_experiment("ncn", "cora", seeds=2, out=tmp_path / "ncn.json",
                                 overrides=over)
    assert states_seen == ["ncn_seed0.state.pt", "ncn_seed1.state.pt"]  # written while running
    assert not list(tmp_path.glob("*.state.pt"))  # and dropped once each seed was recorded
    assert res["effective_config"]["predictor"] == "ncn"
