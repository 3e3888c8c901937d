import json

import pytest

from graphcl import runner
from graphcl.cli import main
from graphcl.config import method_config, read_config
from graphcl.lifelong import register_plugin
from graphcl.methods import available_methods, get_method
from graphcl.train.engine import ResumeError
from graphcl.train.plugins import Plugin

pytestmark = pytest.mark.usefixtures("one_thread")

RESULT_KEYS = {"method", "dataset", "metrics", "stats", "curves", "seeds", "config", "plugins",
               "data_sha256", "wall_time_s", "peak_rss_mb", "command", "versions"}


def test_run_writes_results_json(tmp_path, capsys):
    out = tmp_path / "res" / "gae.json"
    rc = main(["run", "gae", "--dataset", "synthetic:sbm", "--seeds", "2", "--out", str(out),
               "--set", "epochs=5", "--no-progress"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res) == RESULT_KEYS
    assert res["method"] == "gae" and res["dataset"] == "synthetic-sbm"
    assert res["seeds"] == [0, 1]
    assert res["config"]["epochs"] == 5
    m = res["metrics"]["test_hits@100"]
    assert set(m) == {"mean", "std", "values"} and len(m["values"]) == 2
    assert all(0.0 <= v <= 1.0 for v in m["values"])
    # one std convention: the sample std
    a, b = m["values"]
    assert m["std"] == pytest.approx(abs(a - b) / 2 ** 0.5)
    assert res["stats"]["epochs"]["values"] == [5.0, 5.0]
    assert len(res["curves"]["valid_auc"]) == 2 and len(res["curves"]["valid_auc"][0]) == 5
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == res
    assert not list((tmp_path / "res").glob("*.partial.json"))
    assert not list((tmp_path / "res").glob("*.state.pt"))

    rc = main(["report", str(tmp_path / "res")])
    table = capsys.readouterr().out
    assert "| synthetic-sbm | gae | hits@100 |" in table


@register_plugin("test-kill")
class KillAt(Plugin):
    r"""Raises KeyboardInterrupt once, in the given seed's epoch (a simulated kill)."""

    fired: set = set()

    def __init__(self, epoch: int = 2, tag: str = "") -> None:
        self.epoch, self.tag = epoch, tag

    def after_training_iteration(self, strategy, **kw):
        key = (self.tag, strategy.fingerprint["seed"])
        if strategy.epoch == self.epoch and key not in KillAt.fired and key[1] == 1:
            KillAt.fired.add(key)
            raise KeyboardInterrupt("simulated kill")


def test_killed_run_resumes_exactly(tmp_path):
    over = {"epochs": 4}
    full = runner.run_experiment("gae", "synthetic:sbm", seeds=2, overrides=over,
                                 progress=False)
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out, overrides=over,
                              plugins=["test-kill:tag=a"], progress=False)
    assert (tmp_path / "r.json.partial.json").exists()  # seed 0 is recorded
    assert (tmp_path / "r.json.seed1.state.pt").exists()  # seed 1 stopped in epoch 3
    res = runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out, overrides=over,
                                plugins=["test-kill:tag=a"], progress=False)
    assert res["metrics"] == full["metrics"]
    assert res["curves"] == full["curves"]
    assert not list(tmp_path.glob("*.state.pt")) and not list(tmp_path.glob("*.partial.json"))


def test_resume_on_other_config_or_data_is_refused(tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                              overrides={"epochs": 4}, plugins=["test-kill:tag=b"],
                              progress=False)
    with pytest.raises(runner.PartialResultsError, match="config.lr"):
        runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                              overrides={"epochs": 4, "lr": 0.5},
                              plugins=["test-kill:tag=b"], progress=False)
    from graphcl.data.synthetic import attributed_sbm

    other = attributed_sbm(seed=1)
    with pytest.raises(runner.PartialResultsError, match="data_sha256"):
        runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                              overrides={"epochs": 4}, plugins=["test-kill:tag=b"],
                              progress=False, data=("synthetic-sbm", other, ("synthetic-sbm",)))
    # the per-epoch state of seed 1 is refused too (the partial file gone, the state kept)
    (tmp_path / "r.json.partial.json").unlink()
    with pytest.raises(ResumeError, match="data_sha256"):
        runner.run_experiment("gae", "synthetic:sbm", seeds=[1], out=out,
                              overrides={"epochs": 4}, plugins=["test-kill:tag=b"],
                              progress=False, data=("synthetic-sbm", other, ("synthetic-sbm",)))


def test_quickstart_tour_runs_offline(capsys, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", "/nonexistent")
    assert main(["quickstart", "gae"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("| gae |"))
    assert float(row.split("|")[5]) > 0.5  # test Hits@100 of a GCN on the planted partition


def test_quickstart_skips_a_method_whose_extra_is_missing(capsys, monkeypatch):
    import graphcl.nn.structured_pruning as sp

    def missing():
        raise ImportError("structured pruning needs torch-pruning: pip install "
                          "'graphcl[metaprune]' (or pip install torch-pruning)")

    monkeypatch.setattr(sp, "require_torch_pruning", missing)
    assert main(["quickstart", "metaprune"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines()
               if ln.startswith("| metaprune |"))
    assert "skipped" in row and "graphcl[metaprune]" in row


def test_help_lists_methods_and_dataset_forms(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for name, m in available_methods().items():
        assert f"  {name}" in text and m.description in text
    assert "FORMAT:PATH" in text and "synthetic:KIND" in text
    assert main(["methods"]) == 0
    assert "tgn" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["run", "nope", "--dataset", "synthetic:sbm"], "unknown method 'nope'"),
    (["run", "gae", "--dataset", "synthetic:nope"], "unknown synthetic dataset"),
    (["run", "gae", "--dataset", "no-such-card"], "no dataset card named"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--set", "hiden=3"], "unknown config key"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--set", "noequals"], "KEY=VALUE"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--seeds", "0"], "number of seeds"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--seed-list", "0,a"], "comma-separated"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--plugin", "nope"], "unknown plugin"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--plugin", "ewc:lamda=1"], "unknown option"),
    (["run", "tgn", "--dataset", "synthetic:sbm"], "needs a temporal event stream"),
    (["run", "gae", "--dataset", "synthetic:temporal-sbm"], "dataset 'synthetic-temporal-sbm'"),
    (["run", "pres", "--dataset", "synthetic:temporal-sbm", "--set", "pres.gama=1"],
     "unknown pres key"),
    (["run", "gae", "--dataset", "synthetic:sbm", "--set", "lr.x=1"], "has no sub-keys"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_are_one_line_and_exit_2(argv, message, capsys, tmp_path):
    out = tmp_path / "r.json"
    assert main([*argv, "--out", str(out)] if argv[0] == "run" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written


def test_bad_config_files():
    with pytest.raises(FileNotFoundError, match="no config for method"):
        method_config("no-such-method")


def test_bad_config_file_shape(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        read_config(bad)


def test_config_sections_by_card_alias_and_fallback():
    tgn = get_method("tgn")
    file_cfg = read_config(tgn.config_path())
    # `--dataset wikipedia` is the jodie-wikipedia card: its alias finds the wikipedia section
    cfg = tgn.configure(file_cfg, ("jodie-wikipedia", "wikipedia"))
    assert cfg["epochs"] == 10 and cfg["patience"] == 3
    assert tgn.configure(file_cfg, ("my-stream",))["epochs"] == 50  # defaults
    ncn = get_method("ncn")
    ncfg = read_config(ncn.config_path())
    assert ncn.configure(ncfg, ("citeseer",))["batch_size"] == 384
    generic = ncn.configure(ncfg, ("my-graph",))  # no section: the "*" one (Cora's flags)
    assert generic["batch_size"] == 1152 and generic["predictor"] == "ncn"
    assert ncn.configure(ncfg, ("cora",), {"hiddim": 8})["hiddim"] == 8


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
    for name in ("cora", "citeseer", "ogbl-ddi", "bitcoin-otc", "collegemsg",
                 "wikipedia-nofeat", "mutag"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert "verified" in line, line


def test_run_on_format_path_without_card(data_root, tmp_path, capsys):
    spec = f"planetoid:{data_root / 'planetoid' / 'Cora' / 'raw'}"
    rc = main(["run", "gae", "--dataset", spec, "--set", "epochs=3", "protocol=random",
               "--out", str(tmp_path / "r.json"), "--no-progress"])
    assert rc == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["dataset"] == "cora"
    assert res["config"]["epochs"] == 3 and res["config"]["protocol"] == "random"
    assert 0.0 <= res["metrics"]["test_auc"]["mean"] <= 1.0


def test_link_methods_record_the_decoder_they_ran(tmp_path):
    res = runner.run_experiment("ncn", "synthetic:sbm", seeds=1, progress=False,
                                overrides={"epochs": 1, "hiddim": 8, "batch_size": 256})
    assert res["config"]["predictor"] == "ncn"
    assert not any(k.startswith("_") for k in res["config"])
    heur = runner.run_experiment("cn", "synthetic:sbm", seeds=1, progress=False)
    assert heur["stats"]["epochs"]["values"] == [0.0] and "test_hits@100" in heur["metrics"]


def test_more_seeds_reuse_the_recorded_ones(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    one = runner.run_experiment("gae", "synthetic:sbm", seeds=1, out=out,
                                overrides={"epochs": 2}, progress=False)
    ran = []
    real = runner.run_seed
    monkeypatch.setattr(runner, "run_seed", lambda m, d, c, seed, **kw: (
        ran.append(seed), real(m, d, c, seed, **kw))[1])
    two = runner.run_experiment("gae", "synthetic:sbm", seeds=2, out=out,
                                overrides={"epochs": 2}, progress=False)
    assert ran == [1]
    assert two["metrics"]["test_auc"]["values"][0] == one["metrics"]["test_auc"]["values"][0]
    three = runner.run_experiment("gae", "synthetic:sbm", seeds=1, out=out,
                                  overrides={"epochs": 3}, progress=False)  # another run
    assert ran == [1, 0] and three["config"]["epochs"] == 3


def test_datasets_command_names_a_missing_file(data_root, tmp_path, capsys, monkeypatch):
    import shutil

    src = data_root / "planetoid" / "Cora" / "raw"
    dst = tmp_path / "planetoid" / "Cora" / "raw"
    shutil.copytree(src, dst)
    (dst / "ind.cora.tx").unlink()
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    rc = main(["datasets", "--root", str(tmp_path)])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("cora "))
    assert rc == 1 and "INCOMPLETE" in line and "ind.cora.tx" in line
