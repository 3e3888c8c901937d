"""Data-parallel training and parallel sweeps: 2 gloo processes on CPU (marked distributed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphcl.distributed import check_world_size, shard_bounds, shard_weight
from graphcl.distributed.memory import latest_rows

sys.path.insert(0, str(Path(__file__).parent))
import distributed_workers as workers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY_TGN = ["epochs=1", "memory_dim=16", "time_dim=8", "embedding_dim=16", "mrr_num_neg=5",
            "dropout=0"]


# --- no processes --------------------------------------------------------------------------
def test_shards_are_contiguous_and_weighted():
    assert [shard_bounds(7, r, 2) for r in range(2)] == [(0, 4), (4, 7)]
    assert [shard_bounds(2, r, 3) for r in range(3)] == [(0, 1), (1, 2), (2, 2)]
    # weights make the averaged shard means the global mean: 4/7*2 and 3/7*2
    assert shard_weight(7, 0, 2) == pytest.approx(8 / 7)
    assert shard_weight(7, 1, 2) == pytest.approx(6 / 7)
    assert shard_weight(0, 0, 2) == 0.0
    with pytest.raises(ValueError, match="rank 2 is outside"):
        shard_bounds(5, 2, 2)


def test_world_size_that_does_not_divide_is_refused():
    check_world_size(2, 200, 1000)
    with pytest.raises(ValueError, match="batch_size 200 does not split over 3 processes"):
        check_world_size(3, 200, 1000)
    with pytest.raises(ValueError, match="1 training examples cannot feed 2 processes"):
        check_world_size(2, 200, 1)


def test_latest_rows_prefers_later_key_then_higher_rank():
    ids = torch.tensor([5, 3, 5, 3, 9])
    key = torch.tensor([2.0, 1.0, 2.0, 4.0, 0.0])
    rank = torch.tensor([0, 0, 1, 1, 1])
    nodes, idx = latest_rows(ids, key, rank)
    assert nodes.tolist() == [3, 5, 9]
    # node 3: key 4 beats key 1; node 5: equal keys, the larger tie-break wins; node 9: alone
    assert idx.tolist() == [3, 2, 4]


def test_shard_task_refuses_other_tasks_and_odd_batches():
    from graphcl.data.synthetic import attributed_sbm, temporal_sbm_stream
    from graphcl.distributed import DistEnv, shard_task

    env = DistEnv(rank=0, world_size=3)
    with pytest.raises(ValueError, match="has no data-parallel version"):
        shard_task(object(), env)
    setup = workers._build("tgn", temporal_sbm_stream(num_nodes=30, num_events=300, seed=0),
                           {"memory_dim": 8, "time_dim": 4, "embedding_dim": 8})
    with pytest.raises(ValueError, match="batch_size 200 does not split over 3"):
        shard_task(setup.task, env, model=setup.model)
    with pytest.raises(ValueError, match="needs the engine's model: pass model="):
        shard_task(setup.task, env)
    ncn = workers._build("ncnc", attributed_sbm(num_nodes=60, seed=0), {"batch_size": 300})
    with pytest.raises(ValueError, match="keeps no node memory"):
        shard_task(ncn.task, DistEnv(rank=0, world_size=2), partition_memory=True)
    nat = workers._build("nat", temporal_sbm_stream(num_nodes=30, num_events=300, seed=0), {})
    with pytest.raises(ValueError, match="only with the TGN family .* not NAT"):
        shard_task(nat.task, DistEnv(rank=0, world_size=2), model=nat.model)


# --- two gloo processes --------------------------------------------------------------------

@pytest.mark.distributed
def test_averaged_shard_gradients_equal_the_global_batch(tmp_path):
    res = workers.spawn("gradient_average", tmp_path)
    for r in res:
        assert "error" not in r, r.get("trace")
        assert r["diff"] < 1e-6
        assert r["unused_none"]


@pytest.mark.distributed
def test_lost_rank_raises_instead_of_hanging(tmp_path):
    res = workers.spawn("lost_rank", tmp_path, timeout=5.0, join_s=60.0)
    r0 = res[0]
    assert "error" not in r0, r0.get("trace")
    assert r0["raised"] and "all_reduce(sum) failed" in r0["message"]
    assert r0["seconds"] < 30


@pytest.mark.distributed
def test_ranks_with_another_config_are_refused(tmp_path):
    for r in workers.spawn("config_mismatch", tmp_path):
        assert r["raised"] and "ranks [1] run another config than rank 0" in r["message"]


@pytest.mark.distributed
@pytest.mark.parametrize("method,over,shard_by", [
    # the preset's query_time="first": each node embedded at its first query in the whole
    # batch (the shard's scores get the batch's negatives), as one process does
    ("tgn", {}, "time"),
    ("tgn", {"query_time": "event"}, "time"),
    ("tgn", {"query_time": "event", "batch_neighbors": True, "aggregator": "mean",
             "batch_size": 150}, "time"),  # 150 events: the last batch splits unevenly
    ("tgn", {"query_time": "event", "batch_neighbors": True}, "owner"),
    ("pres", {"batch_size": 400, "pres": {"gamma": 0.5}}, "time"),
])
def test_memory_model_ranks_hold_identical_memory(tmp_path, method, over, shard_by):
    over = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "dropout": 0.0, **over}
    res = workers.spawn("memory_model_step", tmp_path, method, over, 0.0, shard_by)
    for r in res:
        assert "error" not in r, r.get("trace")
        assert r["across_ranks"] == 0.0  # every synchronised step leaves identical state
        if method == "tgn":  # the single-process run with the global batch: memory, messages,
            assert r["vs_single"] < 1e-6  # neighbours and the averaged gradient
            assert r["grad_rel"] < 1e-5
        else:  # PRES's coherence term is a mean over each shard's nodes: close, not equal
            assert r["vs_single"] < 1e-2


@pytest.mark.distributed
@pytest.mark.parametrize("method,over,shard_by", [
    ("tgn", {"query_time": "event", "batch_neighbors": True, "aggregator": "mean",
             "batch_size": 150}, "time"),
    ("tgn", {}, "owner"),  # the preset's query_time="first": exact with the batch's negatives
    ("pres", {"batch_size": 100, "pres": {"gamma": 0.5}}, "time"),  # statistics observed
])
def test_memory_stored_by_owner_equals_single_process(tmp_path, method, over, shard_by):
    over = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "dropout": 0.0, **over}
    res = workers.spawn("partitioned_step", tmp_path, method, over, shard_by)
    for rank, r in enumerate(res):
        assert "error" not in r, r.get("trace")
        assert r["owned"] == (31 if rank == 0 else 30)  # 61 nodes over 2 ranks
        assert r["rows"] and set(r["rows"].values()) == {r["owned"]}  # every node buffer
        assert r["memory_norm"] > 0 and r["observed"] != 0
        assert r["vs_single"] < 1e-6  # each rank's rows are the single process's rows
        assert r["grad_rel"] < (1e-5 if method == "tgn" else 1e-3)  # PRES: per-shard mean
        assert r["eval_diff"] < 1e-9  # validation scored in shards, gathered
        assert r["exchange_s"] > 0
    assert res[0]["eval"] == res[1]["eval"]


def test_rows_travel_as_their_exact_bytes():
    from graphcl.distributed.memory import pack_bytes, unpack_bytes

    bufs = [torch.tensor([[0.1, -2.0], [3.5, 1e-30], [7.0, 8.0]]),  # float32
            torch.tensor([1.25, 2**40 + 0.5, 3.0], dtype=torch.float64),
            torch.tensor([[-1, 2**62], [5, 6], [7, 8]]), torch.zeros(3, 0)]
    rows = pack_bytes(bufs, torch.tensor([2, 1]))
    assert rows.dtype == torch.uint8 and rows.shape == (2, 8 + 8 + 16)  # no float64 widening
    out = [torch.zeros_like(b) for b in bufs]
    unpack_bytes(out, torch.tensor([0, 2]), rows)
    for b, o in zip(bufs, out, strict=True):
        assert torch.equal(o[0], b[2]) and torch.equal(o[2], b[1])
    unpack_bytes(out, torch.tensor([], dtype=torch.long), pack_bytes(bufs, torch.tensor([],
                 dtype=torch.long)))


def test_owner_partition_rows():
    from graphcl.distributed.partition import OwnerPartition

    p = OwnerPartition(7, 3, 1)
    assert p.num_local == 2 and p.nodes().tolist() == [1, 4]
    assert p.owner(torch.tensor([0, 4, 5, 6])).tolist() == [0, 1, 2, 0]
    assert p.local(torch.tensor([1, 4])).tolist() == [0, 1]
    assert OwnerPartition(7, 3, 0).num_local == 3 and OwnerPartition(7, 3, 2).num_local == 2
    with pytest.raises(ValueError, match="cannot partition 2 nodes over 3 ranks"):
        OwnerPartition(2, 3, 0)


@pytest.mark.distributed
def test_memory_model_training_stays_identical_across_ranks(tmp_path):
    over = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "dropout": 0.1}
    for r in workers.spawn("memory_model_step", tmp_path, "tgn", over, None):  # Adam, dropout
        assert "error" not in r, r.get("trace")
        assert r["across_ranks"] == 0.0


@pytest.mark.distributed
def test_ncnc_two_ranks_equal_one_process(tmp_path):
    res = workers.spawn("ncn_step", tmp_path)
    for r in res:
        assert "error" not in r, r.get("trace")
        assert r["vs_single"] < 1e-5
        assert r["eval_diff"] < 1e-9
    assert res[0]["eval"] == res[1]["eval"]


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "graphcl", *args], capture_output=True,
                          text=True, env=env, timeout=600, cwd=ROOT)


@pytest.mark.distributed
def test_cli_nproc_matches_single_process(tmp_path):
    base = ["run", "tgn", "--dataset", "synthetic:temporal-sbm", "--no-progress", "--set",
            *TINY_TGN]
    one = _cli(*base, "--threads", "1", "--out", str(tmp_path / "one.json"))
    two = _cli(*base, "--nproc", "2", "--out", str(tmp_path / "two.json"))
    owned = _cli(*base, "--nproc", "2", "--partition-memory", "--shard-by", "owner",
                 "--out", str(tmp_path / "owned.json"))
    for p in (one, two, owned):
        assert p.returncode == 0, p.stderr[-2000:]
    a = json.loads((tmp_path / "one.json").read_text())
    for name in ("two", "owned"):
        b = json.loads((tmp_path / f"{name}.json").read_text())
        for k, v in a["metrics"].items():
            # dropout off: equal up to the summation order of the shards (AP moves ~1e-6)
            assert b["metrics"][k]["mean"] == pytest.approx(v["mean"], abs=1e-4), (name, k)
        assert "--nproc 2" in b["command"]
    owned_st = json.loads((tmp_path / "owned.json").read_text())["stats"]
    two_st = json.loads((tmp_path / "two.json").read_text())["stats"]
    assert "exchange_s_per_epoch" in owned_st
    share = owned_st["node_state_mb"]["mean"] / two_st["node_state_mb"]["mean"]
    assert 0.49 < share < 0.51  # each process holds half of the node state
    # the per-rank states are dropped once the seed is recorded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "owned.json", "two.json"]
    assert two.stdout.count('"metrics"') == 1  # rank 0 prints the results once


@pytest.mark.distributed
def test_cli_nproc_refuses_bad_worlds(tmp_path):
    base = ["run", "tgn", "--dataset", "synthetic:temporal-sbm", "--no-progress", "--set",
            *TINY_TGN]
    odd = _cli(*base, "batch_size=201", "--nproc", "2")
    assert odd.returncode != 0
    assert "batch_size 201 does not split over 2 processes" in odd.stderr
    assert "rank 0 of 2 failed" in odd.stderr
    both = _cli(*base, "--nproc", "2", "--workers", "2")
    assert both.returncode == 2 and "do not combine" in both.stderr
    alone = _cli(*base, "--partition-memory")
    assert alone.returncode == 2 and "add --nproc N" in alone.stderr


def test_data_parallel_refuses_streams_and_other_tasks():
    from graphcl.data.synthetic import attributed_sbm, temporal_sbm_stream
    from graphcl.distributed import DistEnv
    from graphcl.methods import get_method
    from graphcl.runner import run_seed

    env = DistEnv(rank=0, world_size=2)  # refused before any collective: no group needed
    tgn = get_method("tgn")
    cfg = tgn.configure({}, (), {"memory_dim": 8, "time_dim": 4, "embedding_dim": 8})
    with pytest.raises(ValueError, match="does not take a stream of experiences"):
        run_seed(tgn, temporal_sbm_stream(num_nodes=30, num_events=300, seed=0), cfg, 0,
                 progress=False, stream="time-window:3", env=env)
    gnn = get_method("gnn")
    with pytest.raises(ValueError, match="has no data-parallel version"):
        run_seed(gnn, attributed_sbm(num_nodes=100, seed=0), gnn.configure({}, ()), 0,
                 progress=False, env=env)


def _one_thread(fn, *args, **kwargs):
    """``fn`` run with one torch thread: what each sweep worker uses (``threads=1``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(threads)


def test_parallel_seeds_equal_sequential_seeds(tmp_path):
    from graphcl.runner import run_experiment

    kw = {"seeds": 3, "overrides": {"epochs": 5}, "progress": False}
    seq = _one_thread(run_experiment, "gnn", "synthetic:sbm", **kw)
    par = run_experiment("gnn", "synthetic:sbm", workers=2, threads=1,
                         out=tmp_path / "par.json", **kw)
    assert par["metrics"] == seq["metrics"]
    assert par["curves"] == seq["curves"]
    saved = json.loads((tmp_path / "par.json").read_text())
    assert saved["seeds"] == [0, 1, 2] and not list(tmp_path.glob("*.partial.json"))


def test_sweep_refuses_unknown_executor():
    from graphcl.distributed.sweep import run_jobs

    with pytest.raises(ValueError, match="executor must be one of"):
        list(run_jobs(abs, [1], executor="slurm"))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(run_jobs(abs, [1], workers=0))


@pytest.mark.slow
def test_ray_executor_equals_sequential(tmp_path):
    pytest.importorskip("ray")
    from graphcl.runner import run_experiment

    kw = {"seeds": 2, "overrides": {"epochs": 3}, "progress": False}
    seq = _one_thread(run_experiment, "gnn", "synthetic:sbm", **kw)
    par = run_experiment("gnn", "synthetic:sbm", workers=2, threads=1, executor="ray", **kw)
    assert par["metrics"] == seq["metrics"]


def test_tgn_shard_scores_equal_whole_batch_scores():
    """A shard scored with the whole batch as context gets the whole batch's scores, also when
    the context's other events involve nodes above every node of the shard (regression: their
    masked neighbour slots once indexed past the shard's memory rows)."""
    from graphcl.models.tgn import TGN

    torch.manual_seed(0)
    tgn = TGN(14, 0, memory_dim=8, time_dim=4, embedding_dim=8, num_neighbors=3, dropout=0.0,
              query_time="event", batch_neighbors=True).eval()
    first = (torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([1.0, 2.0]))
    tgn.update_state(*first, torch.zeros(2, 0))
    # node 12's empty slots point at node 10's event with 13, a node the second shard lacks
    src, dst = torch.tensor([0, 10, 12, 2]), torch.tensor([1, 13, 2, 12])
    t, neg = torch.tensor([3.0, 4.0, 5.0, 6.0]), torch.tensor([2, 3, 3, 3])
    msg = torch.zeros(4, 0)
    with torch.no_grad():
        whole, whole_neg, _ = tgn(src, dst, t, neg, msg=msg)
        part, part_neg, _ = tgn(src[:2], dst[:2], t[:2], neg[:2], msg=msg[:2],
                                batch_context=(src, dst, t, msg))
        late, late_neg, _ = tgn(src[2:], dst[2:], t[2:], neg[2:], msg=msg[2:],
                                batch_context=(src, dst, t, msg))
    assert torch.allclose(torch.cat([part, late]), whole, atol=1e-6)
    assert torch.allclose(torch.cat([part_neg, late_neg]), whole_neg, atol=1e-6)


def test_tgn_shard_with_batch_negatives_embeds_at_the_batch_first_time():
    """query_time="first": node 3 is a negative at t = 4, 5, 6; the whole batch embeds it at 4.
    The late shard alone would embed it at 5; given the batch's negatives it uses 4."""
    from graphcl.models.tgn import TGN

    torch.manual_seed(0)
    tgn = TGN(14, 0, memory_dim=8, time_dim=4, embedding_dim=8, num_neighbors=3, dropout=0.0,
              query_time="first").eval()
    tgn.update_state(torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([1.0, 2.0]),
                     torch.zeros(2, 0))  # node 3 has a neighbour: its embedding depends on t
    src, dst = torch.tensor([0, 10, 12, 2]), torch.tensor([1, 13, 2, 12])
    t, neg = torch.tensor([3.0, 4.0, 5.0, 6.0]), torch.tensor([2, 3, 3, 3])
    msg = torch.zeros(4, 0)
    with torch.no_grad():
        _, whole_neg, _ = tgn(src, dst, t, neg, msg=msg)
        _, late_neg, _ = tgn(src[2:], dst[2:], t[2:], neg[2:], msg=msg[2:],
                             batch_context=(src, dst, t, msg, neg))
        _, alone_neg, _ = tgn(src[2:], dst[2:], t[2:], neg[2:], msg=msg[2:],
                              batch_context=(src, dst, t, msg))
    assert torch.allclose(late_neg, whole_neg[2:], atol=1e-6)
    assert not torch.allclose(alone_neg, whole_neg[2:], atol=1e-4)  # embedded at t = 5


@pytest.mark.distributed
def test_two_rank_run_resumes_from_rank0_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    res = workers.spawn("resume_run", tmp_path, str(ck))
    for r in res:
        assert "error" not in r, r.get("trace")
        assert r["first_epochs"] == 1 and r["resumed_history"] == 2
        assert r["resumed"] == r["straight"]  # bit-exact continuation
    assert res[0]["files"] == ["stopped.state.pt", "straight.state.pt"]  # by rank 0 only
    assert res[0]["resumed"] == res[1]["resumed"]


@pytest.mark.distributed
def test_partitioned_run_resumes_from_every_ranks_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    res = workers.spawn("resume_run", tmp_path, str(ck), True)
    for r in res:
        assert "error" not in r, r.get("trace")
        assert r["first_epochs"] == 1 and r["resumed_history"] == 2
        assert r["resumed"] == r["straight"]  # each rank's rows continue bit-exactly
        assert "resume from different points" in r["refused"]  # rank 1's file was lost
    assert res[0]["files"] == ["stopped.rank1.state.pt", "stopped.state.pt",
                               "straight.rank1.state.pt", "straight.state.pt"]
    assert res[0]["resumed"] == res[1]["resumed"]
