import os

# Tests run JAX on the CPU and must not grab every core's worth of threads twice.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import subprocess  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size, readonly=False)`` -> a directory on a fresh tmpfs of ``size`` bytes
    (a disk that fills up, or a read-only one); skipped where mounting is not allowed (needs root)."""
    mounts = []

    def make(size: int, readonly: bool = False):
        d = tmp_path / f"disk{len(mounts)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounts.append(d)
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        return d

    yield make
    for d in mounts:
        subprocess.run(["umount", str(d)], check=False)
