"""How a process decides to join a run: explicit flags/env, SLURM job steps, TPU VMs, or single process."""
import argparse

import ml_collections
import pytest

from meta_rfft.distributed import settings as settings_lib
from meta_rfft.distributed import slurm
from meta_rfft.distributed.settings import Plan, Settings, resolve, settings_from

SLURM_STEP = {"SLURM_JOB_ID": "81234", "SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_LOCALID": "0",
              "SLURM_STEP_NODELIST": "gpu[017-020]", "SLURM_STEP_NUM_TASKS": "4"}


def test_single_process_by_default_even_on_slurm_with_one_task():
  assert resolve(Settings(), {}, on_tpu_vm=False) == Plan("single")
  one_task = dict(SLURM_STEP, SLURM_NTASKS="1", SLURM_STEP_NUM_TASKS="1", SLURM_PROCID="0")
  assert resolve(Settings(), one_task, on_tpu_vm=False) == Plan("single")
  assert resolve(Settings(mode="none"), SLURM_STEP, on_tpu_vm=True) == Plan("single")


def test_explicit_from_config_beats_environment():
  env = {"JAX_COORDINATOR_ADDRESS": "envhost:1", "JAX_NUM_PROCESSES": "8", "JAX_PROCESS_ID": "7"}
  s = Settings(coordinator_address="10.0.0.5:4321", num_processes=3, process_id=1, local_device_ids="2,3")
  assert resolve(s, env, on_tpu_vm=True) == Plan("explicit", "10.0.0.5:4321", 3, 1, (2, 3))
  assert resolve(Settings(), env, on_tpu_vm=False) == Plan("explicit", "envhost:1", 8, 7, None)


def test_slurm_step_derives_coordinator_from_first_node_and_job_id_port():
  plan = resolve(Settings(), SLURM_STEP, on_tpu_vm=False)
  assert plan == Plan("slurm", f"gpu017:{61440 + 81234 % 4096}", 4, 2, None)
  # The sbatch script exports the coordinator it computed with scontrol; that wins over the nodelist parse.
  env = dict(SLURM_STEP, JAX_COORDINATOR_ADDRESS="gpu017:29500")
  assert resolve(Settings(), env, on_tpu_vm=False).coordinator_address == "gpu017:29500"
  assert resolve(Settings(coordinator_port=1234), SLURM_STEP, on_tpu_vm=False).coordinator_address == "gpu017:1234"


def test_launcher_env_forces_the_mode():
  assert resolve(Settings(), {"META_RFFT_DISTRIBUTED": "tpu"}, on_tpu_vm=False).kind == "tpu"
  assert resolve(Settings(), {"META_RFFT_DISTRIBUTED": "none"}, on_tpu_vm=True).kind == "single"
  assert resolve(Settings(), {}, on_tpu_vm=True).kind == "tpu"
  with pytest.raises(ValueError, match="META_RFFT_DISTRIBUTED"):
    resolve(Settings(), {"META_RFFT_DISTRIBUTED": "mpi"}, on_tpu_vm=False)


@pytest.mark.parametrize("settings, env, culprit", [
    (Settings(mode="explicit", num_processes=2, process_id=0), {}, "coordinator_address"),
    (Settings(mode="explicit", coordinator_address="h:1", process_id=0), {}, "num_processes"),
    (Settings(coordinator_address="h:1", num_processes=2), {}, "process_id"),
    (Settings(coordinator_address="h:1", num_processes=2, process_id=2), {}, "process_id"),
    (Settings(coordinator_address="nohostport", num_processes=2, process_id=0), {}, "host:port"),
    (Settings(mode="slurm"), {}, "srun"),
    (Settings(coordinator_address="h:1"), {}, "half-specified"),
    (Settings(), {"JAX_NUM_PROCESSES": "two"}, "JAX_NUM_PROCESSES"),
])
def test_bad_or_partial_settings_name_the_culprit(settings, env, culprit):
  with pytest.raises(ValueError, match=culprit):
    resolve(settings, env, on_tpu_vm=False)


def test_settings_from_config_block_dict_and_argparse():
  cfg = ml_collections.ConfigDict({"distributed": settings_lib.default_config(), "other": 1})
  cfg.distributed.heartbeat_timeout_s = 30
  assert settings_from(cfg) == Settings(heartbeat_timeout_s=30)
  assert settings_from(cfg.distributed).heartbeat_timeout_s == 30
  assert settings_from({"mode": "none"}).mode == "none"
  # A run config without the block (e.g. an entry point that never added it) means defaults + environment.
  assert settings_from(ml_collections.ConfigDict({"mesh": {"shape": (1, -1, 1)}, "seed": 0})) == Settings()
  args = argparse.Namespace(workdir="/tmp/x", coordinator_address="h:2", num_processes=2, process_id=None)
  assert settings_from(args) == Settings(coordinator_address="h:2", num_processes=2)
  with pytest.raises(ValueError, match=r"distributed: unknown key\(s\) \['heartbeat_s'\]"):
    settings_from({"heartbeat_s": 3})
  with pytest.raises(ValueError, match="distributed.mode"):
    settings_from({"mode": "mpi4py"})
  with pytest.raises(ValueError, match="distributed.local_device_ids"):
    settings_from({"local_device_ids": "0;1"})
  with pytest.raises(ValueError, match="distributed.heartbeat_timeout_s"):
    settings_from({"heartbeat_timeout_s": 0})


@pytest.mark.parametrize("nodelist, first", [
    ("node001", "node001"), ("node001,host2", "node001"), ("gpu[003-010,012],cpu7", "gpu003"),
    ("gpu[7,9-12]", "gpu7"), ("rack1-n[07-09]", "rack1-n07"), ("n[0010-0012]-ib", "n0010-ib"),
])
def test_first_host_of_slurm_nodelists(nodelist, first):
  assert slurm.first_host_of(nodelist) == first


def test_unparseable_nodelists_are_refused():
  with pytest.raises(ValueError, match="several bracket ranges"):
    slurm.first_host_of("n[1-2]-ib[3-4]")
  with pytest.raises(ValueError, match="cannot parse"):
    slurm.first_host_of("gpu[a-c]")
