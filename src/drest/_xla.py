"""XLA CPU settings drest's training needs, applied before JAX's backend starts.

XLA's CPU "concurrency optimized scheduler" (on by default in the JAX we use)
deadlocks on some of our vmapped programs (seen: init of 2+ seeds never
returns), so it is turned off. Flags are read when the backend is created, so
``drest`` applies them on import, before any JAX computation can run.
"""

from __future__ import annotations

import os
import sys

FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)
# One worker process per core beats one process on two cores for our small MLPs
# (measured: 2 x 1-thread PPO processes 257k steps/s in all vs 138k for one 2-thread one).
SINGLE_THREAD = ("--xla_cpu_multi_thread_eigen=false",)
# With one CPU device per core (drest train's device mesh), each device's matmuls on one thread.
MESH_THREADS = SINGLE_THREAD


def backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # noqa: BLE001
        return False


def configure(device_count: int | None = None) -> bool:
    """Add drest's XLA flags (and optionally a host device count, with MESH_THREADS). False if too late."""
    if backend_started():
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    extra = list(FLAGS)
    if device_count:
        extra += [f"--xla_force_host_platform_device_count={device_count}", *MESH_THREADS]
    extra = [f for f in extra if f.split("=")[0] not in flags]
    if extra:
        os.environ["XLA_FLAGS"] = _prepend(extra, flags)
    return True


def mesh_flags(device_count: int) -> str:
    """XLA_FLAGS for a process whose run is split over ``device_count`` CPU devices."""
    flags = os.environ.get("XLA_FLAGS", "")
    extra = [*FLAGS, f"--xla_force_host_platform_device_count={device_count}", *MESH_THREADS]
    return _prepend([f for f in extra if f.split("=")[0] not in flags], flags)


def _prepend(extra, flags: str) -> str:
    # XLA ignores every flag after a word without a leading "--" (seen: a stray
    # "intra_op_parallelism_threads=1" silently dropped the scheduler fix, and
    # 2-seed training hung), so drest's flags go first.
    return " ".join([*extra, flags]).strip()


def single_thread_flags() -> str:
    """XLA_FLAGS for a worker process that should use one core."""
    flags = os.environ.get("XLA_FLAGS", "")
    return _prepend([f for f in SINGLE_THREAD if f.split("=")[0] not in flags], flags)
