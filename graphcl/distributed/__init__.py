r"""Scale-out: data-parallel training with ``torch.distributed`` and parallel seed sweeps.

* :mod:`~graphcl.distributed.env`: the process group from the ``torchrun`` environment
  (gloo on CPU, nccl on GPU), collectives with timeouts and a clear error for a lost rank,
  cross-rank checks of the run's config;
* :mod:`~graphcl.distributed.sharding`: contiguous (chronological) shards of a global batch;
* :mod:`~graphcl.distributed.data_parallel`: the :class:`DataParallel` Engine plugin
  (DDP's gradient averaging and parameter broadcast, rank 0's metrics on every rank);
* :mod:`~graphcl.distributed.memory`: explicit synchronisation of node memories, pending
  messages and PRES statistics (latest timestamp wins);
* :mod:`~graphcl.distributed.partition`: node state stored by owner (each rank keeps
  ``1/world_size`` of the memory, messages, neighbour lists and PRES statistics and fetches
  a step's rows from their owners);
* :mod:`~graphcl.distributed.tasks`: data-parallel NCN/NCNC and memory-model tasks;
* :mod:`~graphcl.distributed.sweep`: seeds in parallel processes or on a Ray cluster.

``graphcl run METHOD ... --nproc N`` starts ``N`` processes through ``torchrun``
(equivalently ``torchrun --nproc_per_node N -m graphcl run METHOD ...``;
``--partition-memory`` stores a memory model's node state by owner); ``--workers K``
(``--executor ray``) runs seeds side by side.
"""

from graphcl.distributed.data_parallel import DataParallel, average_gradients
from graphcl.distributed.env import (
    DistEnv,
    DistributedError,
    current,
    init_from_env,
    shutdown,
    torchrun_env_present,
)
from graphcl.distributed.memory import sync_memory, sync_node_state, sync_scheme
from graphcl.distributed.partition import OwnerPartition, OwnerStoredTGN
from graphcl.distributed.sharding import check_world_size, shard_bounds, shard_weight
from graphcl.distributed.sweep import run_jobs
from graphcl.distributed.tasks import ShardedNCNLinkTask, ShardedTemporalLinkTask, shard_task

__all__ = ["DistEnv", "DistributedError", "init_from_env", "current", "shutdown",
           "torchrun_env_present", "DataParallel", "average_gradients", "sync_memory",
           "sync_node_state", "sync_scheme", "check_world_size", "shard_bounds", "shard_weight",
           "run_jobs", "ShardedNCNLinkTask", "ShardedTemporalLinkTask", "shard_task",
           "OwnerPartition", "OwnerStoredTGN"]
