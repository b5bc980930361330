"""One process of a multi-process CPU run, started by tests/distributed/test_multiprocess.py (not a test itself).

  python tests/distributed/mp_worker.py --num_processes=2 --process_id=0 --port=P --out=r0.json [--loop]

It joins through `meta_rfft.distributed.initialize`, builds the global mesh (data axis across processes over
"DCN", fsdp inside a process), computes the loss and gradient of a small sharded MLP on a fixed random batch,
and writes them to --out. With --loop it then keeps running collectives until killed (failure detection test);
with --watch_preemption it steps until a SIGTERM to any process stops all of them at the same step.
With --num_processes=1 it is the single-process reference on the same 4 devices.
"""
import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from meta_rfft import distributed


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--num_processes", type=int, required=True)
  p.add_argument("--process_id", type=int, default=0)
  p.add_argument("--port", type=int, default=0)
  p.add_argument("--heartbeat_timeout_s", type=int, default=100)
  p.add_argument("--out", required=True)
  p.add_argument("--loop", action="store_true")
  p.add_argument("--watch_preemption", action="store_true")
  args = p.parse_args()

  multi = args.num_processes > 1
  info = distributed.initialize({
      "mode": "explicit" if multi else "none",
      "coordinator_address": f"127.0.0.1:{args.port}" if multi else "",
      "num_processes": args.num_processes, "process_id": args.process_id,
      "initialization_timeout_s": 60, "heartbeat_timeout_s": args.heartbeat_timeout_s,
      "shutdown_timeout_s": 30})
  assert jax.device_count() == 4, jax.devices()
  if multi:  # two slices (processes) along `data`, two devices per process along `fsdp`
    mesh = distributed.make_global_mesh((1, 2, 1), (2, 1, 1))
  else:
    mesh = distributed.make_global_mesh((2, 2, 1))

  rng = np.random.default_rng(0)
  w1 = rng.normal(size=(16, 32)).astype(np.float32)
  w2 = rng.normal(size=(32, 8)).astype(np.float32)
  x = rng.normal(size=(8, 16)).astype(np.float32)
  y = rng.normal(size=(8, 8)).astype(np.float32)

  def put(a, spec):
    # Each process supplies only its addressable shards; on one process this is an ordinary device_put.
    s = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(a.shape, s, lambda idx: a[idx])

  params = {"w1": put(w1, P("fsdp", None)), "w2": put(w2, P(None, "fsdp"))}
  batch = {"x": put(x, P(("data", "fsdp"))), "y": put(y, P(("data", "fsdp")))}

  def loss_fn(params, batch):
    h = jnp.tanh(batch["x"] @ params["w1"])
    return jnp.mean((h @ params["w2"] - batch["y"]) ** 2)

  step = jax.jit(jax.value_and_grad(loss_fn),
                 out_shardings=(NamedSharding(mesh, P()), jax.tree.map(lambda a: a.sharding, params)))
  loss, grads = step(params, batch)
  # Gather to every host so each can report the full gradient.
  replicated = jax.jit(lambda g: g, out_shardings=NamedSharding(mesh, P()))
  result = {
      "process_index": info.process_index, "process_count": info.process_count,
      "mesh": {k: int(v) for k, v in mesh.shape.items()},
      "mesh_processes": [[int(d.process_index) for d in row] for row in mesh.devices.reshape(mesh.shape["data"], -1)],
      "loss": float(loss),
      "grads": {k: np.asarray(replicated(v)).tolist() for k, v in grads.items()},
  }
  with open(args.out, "w") as f:
    json.dump(result, f)
  print(f"worker {info.process_index}: loss {float(loss):.6f}", flush=True)
  if args.watch_preemption:
    # Step until a SIGTERM (sent by the test to one process only) makes every process stop at one step.
    watcher = distributed.PreemptionWatcher()
    try:
      for i in range(1, 3000):
        step(params, batch)[0].block_until_ready()
        if i == 2:
          open(args.out + ".stepping", "w").close()
        if watcher.reached(i):
          print(f"worker {info.process_index}: preempted at step {i}", flush=True)
          sys.exit(143)
        time.sleep(0.05)
    finally:
      watcher.close()
    sys.exit(4)
  if args.loop:
    t0 = time.time()
    while time.time() - t0 < 600:  # the test kills a peer long before this; never run unbounded
      step(params, batch)[0].block_until_ready()
      time.sleep(0.2)
    sys.exit(3)


if __name__ == "__main__":
  main()
