"""In CI a skipped test is a failure (tests/conftest.py), and the pure LLM tests need no torch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

SAMPLE = '''
import pytest

def test_skips():
    pytest.skip("no chromium on PATH")

@pytest.mark.allow_skip_in_ci
def test_may_skip():
    pytest.skip("needs root")

@pytest.mark.xfail(strict=True, reason="known")
def test_known_failure():
    assert False

def test_passes():
    assert True


@pytest.fixture
def tmpfs(request):  # like conftest's small_disk where mounting is not allowed
    request.node.add_marker(pytest.mark.allow_skip_in_ci)
    pytest.skip("cannot mount a tmpfs here")


def test_fixture_may_skip(tmpfs):
    pass
'''


def run_pytest(args, cwd, ci: bool, extra_code: str = ""):
    env = {**os.environ, "CI": "true" if ci else "", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = f"import sys, pytest\n{extra_code}\nsys.exit(pytest.main({args!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_skip_fails_in_ci_and_only_there(tmp_path):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_missing.py").write_text('import pytest\npytest.importorskip("no_such_module_drest")\n'
                                              "def test_x():\n    pass\n")
    args = ["-q", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly"]
    local = run_pytest(args, tmp_path, ci=False)
    assert local.returncode == 0, local.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in local.stdout
    ci = run_pytest(args + ["--continue-on-collection-errors"], tmp_path, ci=True)
    assert ci.returncode == 1, ci.stdout
    assert "1 failed, 1 passed, 2 skipped, 1 xfailed, 1 error" in ci.stdout
    assert "FAILED test_sample.py::test_skips - skipped in CI" in ci.stdout and "no chromium on PATH" in ci.stdout
    assert "ERROR test_missing.py - test_missing.py skipped in CI" in ci.stdout and "no_such_module_drest" in ci.stdout


def test_pure_llm_tests_run_without_torch():
    block = "for m in ('torch', 'transformers', 'peft'):\n    sys.modules[m] = None  # import raises ImportError"
    files = [str(TESTS / "llm" / f) for f in ("test_rewards.py", "test_scoring.py", "test_datasets.py")]
    res = run_pytest(["-q", "-p", "no:cacheprovider", *files], TESTS.parent, ci=True, extra_code=block)
    assert res.returncode == 0, res.stdout[-3000:]
    assert " skipped" not in res.stdout and " passed" in res.stdout
