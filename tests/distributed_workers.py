"""Per-rank bodies of the distributed tests (a module of its own: spawned processes import it).

Each worker returns a JSON-able dict; :func:`spawn` runs one per rank with the ``torchrun``
variables set and collects them.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from pathlib import Path
from typing import Any

import torch

from graphcl.distributed import (
    DataParallel,
    DistributedError,
    average_gradients,
    init_from_env,
    shard_bounds,
    shard_task,
    shard_weight,
    shutdown,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(name: str, rank: int, world: int, port: int, out: str, timeout: float,
           args: tuple) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        env = init_from_env("gloo", timeout_s=timeout)
        result = globals()[name](env, *args)
    except Exception as e:  # reported to the test, which fails with it
        result = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    if name != "lost_rank":
        shutdown()


def spawn(name: str, tmp_path: Path, *args: Any, world: int = 2, timeout: float = 60.0,
          join_s: float = 180.0) -> list[dict[str, Any]]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_entry, args=(name, r, world, port, str(tmp_path), timeout, args))
             for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(join_s)
    alive = [i for i, p in enumerate(procs) if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert not alive, f"ranks {alive} hung"
    files = [Path(tmp_path, f"rank{r}.json") for r in range(world)]
    return [json.loads(f.read_text()) if f.is_file() else {"exitcode": procs[r].exitcode}
            for r, f in enumerate(files)]


# --- workers -----------------------------------------------------------------------------
def gradient_average(env) -> dict:
    """A step on each rank's shard, averaged, equals the step on the whole batch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    unused = torch.nn.Parameter(torch.ones(2))  # no gradient anywhere: stays None
    x, y = torch.randn(7, 5), torch.randn(7, 1)  # 7 rows: shards of 4 and 3
    loss = torch.nn.functional.mse_loss(model(x), y)
    ref = [g.clone() for g in torch.autograd.grad(loss, list(model.parameters()))]
    a, b = shard_bounds(7, env.rank, env.world_size)
    w = shard_weight(7, env.rank, env.world_size)
    model.zero_grad()
    (torch.nn.functional.mse_loss(model(x[a:b]), y[a:b]) * w).backward()
    params = [*model.parameters(), unused]
    average_gradients(params, env)
    diff = max(float((p.grad - g).abs().max()) for p, g in zip(model.parameters(), ref, strict=True))
    return {"diff": diff, "unused_none": unused.grad is None}


def lost_rank(env) -> dict:
    if env.rank == 1:
        os._exit(0)  # the process disappears without leaving the group
    import time

    t0 = time.perf_counter()
    try:
        env.all_reduce(torch.ones(3))
        return {"raised": False}
    except DistributedError as e:
        return {"raised": True, "message": str(e), "seconds": time.perf_counter() - t0}


def config_mismatch(env) -> dict:
    try:
        env.check_same({"lr": 0.01 if env.rank == 0 else 0.02}, "config")
        return {"raised": False}
    except DistributedError as e:
        return {"raised": True, "message": str(e)}


def _build(method: str, dataset: Any, cfg_over: dict, seed: int = 0):
    from graphcl.methods import get_method
    from graphcl.train.seed import seed_everything

    m = get_method(method)
    cfg = m.configure({}, (), cfg_over)
    seed_everything(seed)
    return m.build(dataset, cfg, seed)


def _engine(setup, plugins=(), lr: float | None = None):
    """An engine for one epoch; ``lr`` replaces the optimiser by SGD at that rate (``0``: the
    state evolves and the gradients are computed and averaged, the weights stay: a test of the
    memory machinery free of the float noise that training amplifies through the time
    encoding, whose gradients scale with the inter-event times)."""
    from graphcl.train.engine import Engine

    if lr is not None:
        setup.optimizer = torch.optim.SGD(
            [p for p in setup.model.parameters() if p.requires_grad], lr=lr)

    return Engine(setup.model, setup.optimizer, plugins=list(plugins), progress=False,
                  **{**setup.engine, "max_epochs": 1})


def _state_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel())



def memory_model_step(env, method: str, over: dict, lr: float | None = 0.0,
                      shard_by: str = "time") -> dict:
    """One training epoch of a memory model: every rank against the single-process run with
    the same global batch (computed on every rank), and the ranks against each other."""
    from graphcl.data.synthetic import temporal_sbm_stream
    from graphcl.train.seed import seed_everything

    data = temporal_sbm_stream(num_nodes=60, num_events=900, seed=0)
    ref = _build(method, data, over)
    eng = _engine(ref, lr=lr)
    seed_everything(0)
    eng.train_epoch(ref.task)
    ref_state = {k: v.clone() for k, v in ref.model.state_dict().items()}
    ref_grads = [p.grad for p in ref.model.parameters()]

    par = _build(method, data, over)
    par.task = shard_task(par.task, env, shard_by, model=par.model)
    eng = _engine(par, [DataParallel(env)], lr=lr)
    seed_everything(0)
    eng._call("before_training")
    eng.train_epoch(par.task)
    state = par.model.state_dict()
    flat = torch.cat([v.double().reshape(-1) for v in state.values()])
    spread = max(float((flat - o).abs().max()) for o in env.all_gather(flat))
    # the last step's averaged gradient against the single process's, relative per tensor
    grad = max(float((p.grad - g).abs().max() / (g.abs().max() + 1e-6))
               for p, g in zip(par.model.parameters(), ref_grads, strict=True) if g is not None)
    return {"vs_single": _state_diff(state, ref_state), "across_ranks": spread,
            "grad_rel": grad}


def ncn_step(env) -> dict:
    """One NCNC epoch without dropout: two ranks equal one process with the global batch;
    the evaluation gathers every rank's share of the pairs."""
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.train.seed import seed_everything

    data = attributed_sbm(num_nodes=300, seed=0)
    over = {"epochs": 1, "hiddim": 16, "batch_size": 256, "xdp": 0, "tdp": 0, "gnndp": 0,
            "gnnedp": 0, "predp": 0, "preedp": 0, "maskinput": True}
    ref = _build("ncnc", data, over)
    eng = _engine(ref)
    seed_everything(0)
    eng.train_epoch(ref.task)
    ref_eval = eng.evaluate(ref.task)
    ref_state = {k: v.clone() for k, v in ref.model.state_dict().items()}

    par = _build("ncnc", data, over)
    par.task = shard_task(par.task, env, model=par.model)
    eng = _engine(par, [DataParallel(env)])
    seed_everything(0)
    eng._call("before_training")
    eng.train_epoch(par.task)
    ev = eng.evaluate(par.task)
    return {"vs_single": _state_diff(par.model.state_dict(), ref_state),
            "eval_diff": max(abs(ev[k] - ref_eval[k]) for k in ref_eval), "eval": ev}


def resume_run(env, ck_dir: str, partition: bool = False) -> dict:
    """A 2-rank run stopped after epoch 1 and resumed from rank 0's checkpoint (with
    ``partition``: node state stored by owner, each rank's own checkpoint) ends where an
    uninterrupted 2-rank run ends; with ``partition``, a rank whose checkpoint is gone makes
    the ranks refuse to resume."""
    from graphcl.data.synthetic import temporal_sbm_stream
    from graphcl.runner import rank_state_path
    from graphcl.train.engine import Engine

    data = temporal_sbm_stream(num_nodes=60, num_events=900, seed=0)
    over = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "epochs": 2,
            "patience": 10, "mrr_num_neg": 0}

    def fit(epochs: int, ck: Path) -> dict:
        setup = _build("tgn", data, over)
        eng = Engine(setup.model, setup.optimizer, plugins=[DataParallel(env)],
                     progress=False, checkpoint=ck, fingerprint={"run": "resume"}, seed=0,
                     **{**setup.engine, "max_epochs": epochs})
        eng.write_checkpoints = env.is_main or partition
        setup.task = shard_task(setup.task, env, model=setup.model, partition_memory=partition)
        if partition:
            eng.checkpoint = rank_state_path(ck, env.rank)
        res = eng.fit(setup.task)
        env.barrier()  # the checkpoints are written
        return res

    first = fit(1, Path(ck_dir) / "stopped.state.pt")
    resumed = fit(2, Path(ck_dir) / "stopped.state.pt")
    straight = fit(2, Path(ck_dir) / "straight.state.pt")
    out = {"first_epochs": first["epochs"], "resumed_history": len(resumed["history"]),
           "resumed": resumed["metrics"], "straight": straight["metrics"],
           "files": sorted(p.name for p in Path(ck_dir).iterdir())}
    if partition:
        fit(1, Path(ck_dir) / "lost.state.pt")
        if env.rank == 1:
            rank_state_path(Path(ck_dir) / "lost.state.pt", 1).unlink()
        env.barrier()
        try:
            fit(2, Path(ck_dir) / "lost.state.pt")
            out["refused"] = None
        except DistributedError as e:
            out["refused"] = str(e)
    return out


def partitioned_step(env, method: str, over: dict, shard_by: str = "time") -> dict:
    """One training epoch and a validation pass with node state stored by owner: each rank's
    rows against the single-process run's rows of the nodes it owns."""
    from graphcl.data.synthetic import temporal_sbm_stream
    from graphcl.train.seed import seed_everything

    data = temporal_sbm_stream(num_nodes=61, num_events=900, seed=0)  # 61: uneven partition
    ref = _build(method, data, over)
    eng = _engine(ref, lr=0.0)
    seed_everything(0)
    eng.train_epoch(ref.task)
    ref_state = {k: v.clone() for k, v in ref.model.state_dict().items()}
    ref_grads = [p.grad for p in ref.model.parameters()]
    ref_eval = eng.evaluate(ref.task)

    par = _build(method, data, over)
    par.task = shard_task(par.task, env, shard_by, model=par.model, partition_memory=True)
    eng = _engine(par, [DataParallel(env)], lr=0.0)
    seed_everything(0)
    eng._call("before_training")
    eng.train_epoch(par.task)
    state = {k: v.clone() for k, v in par.model.state_dict().items()}
    ev = eng.evaluate(par.task)
    owned = torch.arange(env.rank, 61, env.world_size)
    diff, rows = 0.0, {}
    for k, v in state.items():
        want = ref_state[k] if v.shape == ref_state[k].shape else ref_state[k][owned]
        if v.shape != ref_state[k].shape:
            rows[k] = v.size(0)
        if v.numel():
            diff = max(diff, float((v.double() - want.double()).abs().max()))
    grad = max(float((p.grad - g).abs().max() / (g.abs().max() + 1e-6))
               for p, g in zip(par.model.parameters(), ref_grads, strict=True) if g is not None)
    return {"vs_single": diff, "grad_rel": grad, "rows": rows, "owned": owned.numel(),
            "memory_norm": float(ref_state["tgn.memory.memory"].abs().sum()),
            "observed": int(ref_state["pres.gmm.count"].sum()) if "pres.gmm.count" in ref_state
            else None,
            "eval_diff": max(abs(ev[k] - ref_eval[k]) for k in ref_eval), "eval": ev,
            "exchange_s": eng.stats.get("exchange_seconds", 0.0)}
