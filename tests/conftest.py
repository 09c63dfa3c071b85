import os

# Tests run JAX on the CPU and must not grab every core's worth of threads twice.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import subprocess  # noqa: E402

import pytest  # noqa: E402

# In CI (CI=true, as GitHub Actions and `bash .ci/run`'s callers set) every dependency
# is installed, so a skip means something is missing or broken: report it as a failure.
# A test whose skip is legitimate anywhere (e.g. mounting a tmpfs needs root) marks
# itself `allow_skip_in_ci`.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_skip_in_ci: this test may skip in CI (its reason is not a missing dependency)")


def _skip_reason(report) -> str:
    return report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") \
            and item.get_closest_marker("allow_skip_in_ci") is None:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be missing: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # a module-level importorskip skips a whole file at collection
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped in CI, where nothing may be missing: {_skip_reason(report)}"


@pytest.fixture
def small_disk(tmp_path, request):
    """``small_disk(size, readonly=False)`` -> a directory on a fresh tmpfs of ``size`` bytes
    (a disk that fills up, or a read-only one); skipped where mounting is not allowed (needs root)."""
    mounts = []

    def make(size: int, readonly: bool = False):
        d = tmp_path / f"disk{len(mounts)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True)
        if r.returncode:
            request.node.add_marker(pytest.mark.allow_skip_in_ci)  # needs root, which CI need not have
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounts.append(d)
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        return d

    yield make
    for d in mounts:
        subprocess.run(["umount", str(d)], check=False)
