r"""The process group of a data-parallel run, from the ``torchrun`` environment.

``torchrun --nproc_per_node N`` (or ``graphcl run ... --nproc N``, which starts it) gives every
process ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` joins the group with gloo on CPU and nccl on GPU, with a timeout on
every collective so that a lost rank ends the run with an error instead of a hang. The
collectives here wrap torch's with that error (:class:`DistributedError`, naming the operation).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["DistEnv", "DistributedError", "init_from_env", "current", "shutdown",
           "torchrun_env_present", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 300.0


class DistributedError(RuntimeError):
    r"""A collective failed or timed out (a rank was lost), or ranks disagree on the run."""


@dataclass(frozen=True)
class DistEnv:
    r"""One process's place in the group.

    Attributes:
        rank (int): this process, ``0 .. world_size - 1``.
        world_size (int): number of processes.
        local_rank (int): rank on this machine (the GPU index with nccl).
        backend (str): ``"gloo"`` or ``"nccl"``.
        timeout_s (float): the collective timeout.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "gloo"
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def is_main(self) -> bool:
        r"""Rank 0: the process that logs and writes results and checkpoints."""
        return self.rank == 0

    # --- collectives, with the lost-rank error -------------------------------------------
    def _run(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntimeError as e:  # gloo/nccl: a closed peer or the timeout
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DistributedError(
                f"rank {self.rank}/{self.world_size}: {what} failed (a rank was lost or "
                f"timed out after {self.timeout_s:g} s): {first}") from e

    def all_reduce(self, t: Tensor, op: str = "sum") -> Tensor:
        r"""In place; ``op`` is ``"sum"``, ``"max"`` or ``"min"``."""
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        self._run(f"all_reduce({op})", dist.all_reduce, t, op=ops[op])
        return t

    def broadcast(self, t: Tensor, src: int = 0) -> Tensor:
        self._run("broadcast", dist.broadcast, t, src=src)
        return t

    def all_gather(self, t: Tensor) -> list[Tensor]:
        r"""One tensor per rank (same shape on every rank)."""
        out = [torch.empty_like(t) for _ in range(self.world_size)]
        self._run("all_gather", dist.all_gather, out, t.contiguous())
        return out

    def all_gather_varlen(self, t: Tensor) -> list[Tensor]:
        r"""One tensor per rank whose first dimension may differ between ranks."""
        n = torch.tensor([t.size(0)], dtype=torch.long)
        sizes = [int(s) for s in self.all_gather(n)]
        pad = t.new_zeros((max(sizes) - t.size(0), *t.shape[1:]))
        full = self.all_gather(torch.cat([t, pad]))
        return [x[:s] for x, s in zip(full, sizes, strict=True)]

    def exchange(self, parts: list[Tensor], recv_sizes: list[int] | None = None,
                 ) -> list[Tensor]:
        r"""All-to-all of variable-length tensors: ``parts[r]`` goes to rank ``r``; returns
        the tensor each rank sent to this one (same trailing shape and dtype everywhere).
        ``recv_sizes`` (the first dimension of what each rank sends here, when known, e.g.
        the answers to requests) saves the round that exchanges the sizes."""
        if len(parts) != self.world_size:
            raise ValueError(f"exchange needs one tensor per rank ({self.world_size}), got "
                             f"{len(parts)}")
        send = [p.size(0) for p in parts]
        if recv_sizes is None:
            recv = torch.empty(self.world_size, dtype=torch.long)
            self._run("all_to_all(sizes)", dist.all_to_all_single, recv,
                      torch.tensor(send, dtype=torch.long))
            recv_sizes = recv.tolist()
        flat = torch.cat(parts).contiguous()
        out = flat.new_empty((sum(recv_sizes), *flat.shape[1:]))
        self._run("all_to_all", dist.all_to_all_single, out, flat, list(recv_sizes), send)
        return list(out.split(list(recv_sizes)))

    def all_gather_object(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        self._run("all_gather_object", dist.all_gather_object, out, obj)
        return out

    def barrier(self) -> None:
        self._run("barrier", dist.barrier)

    def check_same(self, obj: Any, what: str) -> None:
        r"""Raises :class:`DistributedError` unless every rank passes an equal ``obj`` (a
        JSON-able config, data digest ...), naming the ranks that differ from rank 0."""
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
        digests = self.all_gather_object(digest)
        odd = [r for r, d in enumerate(digests) if d != digests[0]]
        if odd:
            raise DistributedError(f"ranks {odd} run another {what} than rank 0; every rank "
                                   "must start with the same command, config and data")


_ENV: DistEnv | None = None


def torchrun_env_present() -> bool:
    r"""Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(backend: str | None = None, timeout_s: float | None = None) -> DistEnv:
    r"""Joins the process group described by the ``torchrun`` variables (once; later calls
    return the same :class:`DistEnv`). Without them (one process) nothing is initialised
    and the environment is rank 0 of 1.

    Args:
        backend (str, optional): ``"gloo"`` (CPU tensors) or ``"nccl"`` (CUDA tensors, one GPU
            per process). (default: ``$GRAPHCL_DIST_BACKEND``, else gloo: graphcl's methods
            train on the CPU)
        timeout_s (float, optional): collective timeout; ``$GRAPHCL_DIST_TIMEOUT`` or
            :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        ValueError: inconsistent variables (``RANK`` outside ``[0, WORLD_SIZE)``, nccl without
            enough GPUs).
    """
    global _ENV
    if _ENV is not None:
        return _ENV
    timeout = float(timeout_s if timeout_s is not None
                    else os.environ.get("GRAPHCL_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if not torchrun_env_present():
        _ENV = DistEnv(timeout_s=timeout)
        return _ENV
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside [0, WORLD_SIZE={world})")
    backend = backend or os.environ.get("GRAPHCL_DIST_BACKEND", "gloo")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but only {torch.cuda.device_count()} GPUs")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=timedelta(seconds=timeout))
    _ENV = DistEnv(rank, world, local, backend, timeout)
    return _ENV


def current() -> DistEnv:
    r"""The environment :func:`init_from_env` set up (rank 0 of 1 before or without it)."""
    return _ENV if _ENV is not None else DistEnv()


def shutdown() -> None:
    r"""Leaves the process group (end of a run)."""
    global _ENV
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _ENV = None
