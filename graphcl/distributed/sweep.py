r"""Seed and config sweeps: independent jobs in parallel processes or on a Ray cluster.

:func:`run_jobs` calls a top-level function on each job and yields ``(job, result)`` as the
jobs finish. ``executor="process"`` uses a pool of ``workers`` fresh (spawned) Python
processes on this machine; ``executor="ray"`` sends each job to a Ray cluster (the one at
``$RAY_ADDRESS``, else a local one started for the sweep; ``pip install graphcl[ray]``). Every
job sets its own torch thread count, so a seed computes exactly what it computes alone with
that thread count: a sweep's results equal the sequential run's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["run_jobs", "EXECUTORS", "default_threads"]

EXECUTORS = ("process", "ray")


def default_threads(workers: int) -> int:
    r"""Torch threads per job: the machine's cores shared by the concurrent jobs."""
    return max(1, (os.cpu_count() or 1) // max(1, int(workers)))


def _with_threads(fn: Callable[[Any], Any], threads: int, job: Any) -> Any:
    import torch

    torch.set_num_threads(int(threads))
    return fn(job)


def _process_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int,
                  threads: int) -> Iterator[tuple[Any, Any]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_with_threads, fn, threads, job): job for job in jobs}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _ray_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int,
              threads: int) -> Iterator[tuple[Any, Any]]:
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'graphcl[ray]'") from None
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = ({"address": address} if address else
                                  {"num_cpus": max(workers * threads, 1)})
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=threads)(_with_threads)
        pending = {remote.remote(fn, threads, job): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()


def run_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int = 2,
             executor: str = "process", threads: int | None = None,
             ) -> Iterator[tuple[Any, Any]]:
    r"""Runs ``fn(job)`` for every job, ``workers`` at a time, and yields ``(job, result)``
    in completion order.

    Args:
        fn (callable): a module-level function (it is pickled by reference).
        jobs (Sequence): picklable arguments, one per call.
        workers (int, optional): concurrent jobs (with Ray: the local cluster's size; a
            remote cluster schedules by ``threads`` CPUs per job). (default: ``2``)
        executor (str, optional): ``"process"`` or ``"ray"``. (default: ``"process"``)
        threads (int, optional): torch threads per job. (default: :func:`default_threads`)

    Raises:
        ValueError: an unknown executor, ``workers < 1``, Ray not installed. A job's own
        exception is re-raised here.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    threads = int(threads) if threads else default_threads(workers)
    run = _ray_jobs if executor == "ray" else _process_jobs
    yield from run(fn, list(jobs), int(workers), threads)
