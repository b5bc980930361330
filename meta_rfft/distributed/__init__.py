"""Multi-host runs: joining jax.distributed, the global (ICI x DCN) mesh, and ahead-of-time memory checks.

Entry points call, before any other JAX work:

  info = distributed.initialize(config)                  # no-op for one process
  mesh = distributed.global_mesh_from_config(config.mesh)  # config.mesh.dcn_shape optional
  ...
  code = distributed.compile_only(train_step, abstract_state, abstract_batch, budget="16GiB")
  watcher = distributed.PreemptionWatcher()  # every step: `if watcher.reached(step): save and stop`

To compile for a TPU slice without holding it (libtpu installed, any CPU machine): build the mesh on
`distributed.target_devices("v5e:16x16")` (passed as `devices=` to the mesh functions) before the abstract inputs.
"""
from meta_rfft.distributed.compile_check import MemoryReport, compile_only, measure, parse_bytes
from meta_rfft.distributed.mesh import describe, global_mesh_from_config, make_global_mesh, num_slices
from meta_rfft.distributed.runtime import (PreemptionWatcher, ProcessInfo, host_shard, initialize,
                                           preemption_sync_point, process_info)
from meta_rfft.distributed.settings import Plan, Settings, default_config, resolve, settings_from
from meta_rfft.distributed.topology import target_devices
