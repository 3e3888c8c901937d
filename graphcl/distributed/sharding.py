r"""Rank-aware sharding: contiguous shards of a global batch.

A data-parallel step splits each *global* batch (the batch size of the config) into
``world_size`` contiguous shards, one per rank; for an event stream the shards are
chronological (rank 0 the earliest events), which is what lets the memory synchronisation
resolve conflicts by "latest timestamp wins". A shard's mean loss is reweighted by its share
of the global batch, so the averaged gradient equals the single-process gradient of the
global batch even when the last batch does not split evenly.
"""

from __future__ import annotations

__all__ = ["shard_bounds", "shard_weight", "check_world_size"]


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    r"""``[start, end)`` of ``rank``'s contiguous shard of ``n`` items (sizes differ by at
    most one, the first ranks taking the extra items, as :func:`torch.tensor_split`)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside [0, {world_size})")
    q, r = divmod(int(n), int(world_size))
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def shard_weight(n: int, rank: int, world_size: int) -> float:
    r"""The factor turning a shard's mean loss into its share of the global mean, after the
    gradients are averaged over ranks: ``size * world_size / n`` (0 for an empty batch)."""
    a, b = shard_bounds(n, rank, world_size)
    return (b - a) * world_size / n if n else 0.0


def check_world_size(world_size: int, batch_size: int, num_examples: int,
                     what: str = "training") -> None:
    r"""Refuses a world size that does not divide the data sensibly: every rank must get at
    least one example of a full global batch, and the global batch must split evenly.

    Raises:
        ValueError: naming the batch size, the example count and the world size.
    """
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} does not split over {world_size} processes; "
                         f"use a multiple of {world_size} (each rank takes batch_size / "
                         "world_size examples of every global batch)")
    if num_examples < world_size:
        raise ValueError(f"{num_examples} {what} examples cannot feed {world_size} processes")
