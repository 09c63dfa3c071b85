"""A report of a real (tiny) training run opens in headless Chromium with no console messages.

Console check: Chromium started with ``--enable-logging=stderr --v=0`` writes every
console message of the page (console.log/warn/error and uncaught exceptions) to
stderr as an ``INFO:CONSOLE`` line. The report's script logs nothing, so any such
line is a failure; and the script's last statement marks ``<body data-ready="1">``,
which the dumped DOM must show, so an exception part-way is caught too.
The screenshot goes to tests/report/artifacts/ (and $DREST_ARTIFACTS if set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drest.cli import main
from drest.rl.rundir import RunDir
from drest.worlds import load_bank, save_worlds

ARTIFACTS = Path(__file__).parent / "artifacts"
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (CI installs Debian's chromium)")]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    # small banks so the exact evaluations after each chunk take a moment
    save_worlds(load_bank("paper-train")[:16], tmp / "train.json")
    save_worlds(load_bank("paper-test")[:6], tmp / "test.json")
    run = tmp / "ppo-drest"
    assert main(["train", "--algo", "ppo", "--reward", "drest", "--steps", "48k", "--seeds", "2", "--out", str(run),
                 "--no-progress", "--set", f"train_bank={tmp / 'train.json'}",
                 "--set", f"test_bank={tmp / 'test.json'}",
                 "--set", "eval_every=16k", "--set", "actor_hidden=32", "--set", "critic_hidden=32"]) == 0
    out = tmp / "report.html"
    assert main(["report", str(run), "--out", str(out), "--worlds", "0-3"]) == 0
    return out


def test_report_opens_without_console_errors(report, tmp_path):
    page = report.read_text()
    # self-contained: nothing for the browser to fetch
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)

    dom = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert re.search(r'<body[^>]*data-ready="1"', dom.stdout)
    for element in ("summary-table", "learning-curves", "policy-0", "policy-0-world-0", "policy-0-world-3"):
        assert f'id="{element}"' in dom.stdout
    # the selector script shows the first world and hides the others
    tags = {i: re.search(rf'<div[^>]*id="policy-0-world-{i}"[^>]*>', dom.stdout).group(0) for i in range(4)}
    assert "hidden" not in tags[0] and all("hidden" in tags[i] for i in (1, 2, 3))
    assert dom.stdout.count("<svg") == 5  # the learning curves and 4 worlds
    table = re.search(r'<table id="summary-table">.*?</table>', dom.stdout, re.S).group(0)
    last = max(r["env_steps"] for r in RunDir(report.parent / "ppo-drest").records)
    assert "PPO DReST" in table and "0.747 ± 0.008" in table and f"<td>{last:,}</td>" in table

    shot = tmp_path / "report.png"
    res = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", "--hide-scrollbars", report.as_uri())
    assert res.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for folder in (ARTIFACTS, os.environ.get("DREST_ARTIFACTS")):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(folder) / "report-screenshot.png")
            shutil.copy(report, Path(folder) / "report.html")
