"""What a report reads: deep-RL run directories and language-model result directories.

An argument is
* a deep-RL run (``config.yaml``, from ``drest train`` or ``drest reproduce``);
* a language-model directory: ``demo.json`` with ``<set>.{before,after}.rows.jsonl``
  (``drest llm demo``) or ``metrics.json`` with ``<set>.rows.jsonl`` (``drest llm eval --out``);
* a ``drest llm study --out`` directory (``study.json`` with ``"complete": true``);
* a directory whose subdirectories are such runs (``drest reproduce table1 --out DIR``
  makes one), which stands for those runs.
Anything else is a one-line ``DrestError``. Runs may be partial: evaluations so far,
no checkpoint yet, only some banks evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DrestError
from ..io import read_jsonl
from ..rl.rundir import CONFIG, RunDir


@dataclass
class LLMRun:
    """Per-prompt rows of one or more conditions (``before``/``after`` for a demo, one for an eval)."""

    path: Path
    seed: int
    conditions: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # label -> set name -> rows


def _read_rows(path: Path) -> list[dict]:
    try:
        return read_jsonl(path)
    except DrestError as exc:
        raise DrestError(f"report: {exc}") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DrestError(f"report: cannot read {str(path)!r} ({exc})") from None


@dataclass
class StudyRun:
    """A finished ``drest llm study`` (its ``study.json``)."""

    path: Path
    result: dict


def _llm_run(path: Path) -> LLMRun | StudyRun | None:
    if (path / "plan.json").exists():  # a study directory
        result = _read_json(path / "study.json") if (path / "study.json").exists() else {}
        if not result.get("complete"):
            raise DrestError(f"report: {str(path)!r} holds an unfinished study (no complete study.json); rerun "
                             "its drest llm study command to finish it")
        return StudyRun(path, result)
    if (path / "demo.json").exists():
        run = LLMRun(path, int(_read_json(path / "demo.json").get("settings", {}).get("seed", 0)))
        for tag in ("before", "after"):
            suffix = f".{tag}.rows.jsonl"
            sets = {p.name[: -len(suffix)]: _read_rows(p) for p in sorted(path.glob(f"*{suffix}"))}
            if sets:
                run.conditions[tag] = sets
        return run
    rows = sorted(p for p in path.glob("*.rows.jsonl") if p.name.count(".") == 2)  # <set>.rows.jsonl
    if (path / "metrics.json").exists() and rows:
        settings = _read_json(path / "metrics.json").get("settings", {})
        run = LLMRun(path, int(settings.get("seed") or 0))
        label = "with adapter" if settings.get("adapter") else "base model"
        run.conditions[label] = {p.name[: -len(".rows.jsonl")]: _read_rows(p) for p in rows}
        return run
    return None


def _one(path: Path) -> RunDir | LLMRun | StudyRun | None:
    if (path / CONFIG).exists():
        run = RunDir(path)
        run.config, run.records  # noqa: B018 - a damaged run fails here, before any drawing
        return run
    return _llm_run(path)


def collect(paths) -> tuple[list[RunDir], list[LLMRun | StudyRun]]:
    """The runs named by ``paths`` (see the module doc), in the order given: deep-RL runs,
    and language-model results (evaluations, demos and studies)."""
    if not paths:
        raise DrestError("report: give at least one RUN_DIR")
    rl, llm = [], []
    seen: dict[Path, str] = {}
    for arg in paths:
        path = Path(arg)
        if not path.is_dir():
            raise DrestError(f"report: {arg!r} is not a directory; give drest run directories "
                             "(drest train/reproduce --out, drest llm eval/demo --out)")
        found = [_one(path)]
        if found[0] is None:
            found = [r for r in (_one(p) for p in sorted(path.iterdir()) if p.is_dir()) if r is not None]
        if not found:
            raise DrestError(f"report: {arg!r} is not a drest run (no {CONFIG}, demo.json or metrics.json, "
                             "nor subdirectories holding them)")
        for run in found:
            key = run.path.resolve()
            if key in seen:  # the same run twice would count its seeds twice
                raise DrestError(f"report: the run {str(run.path)!r} is given twice ({seen[key]!r} and {arg!r}); "
                                 "give each run once")
            seen[key] = str(arg)
            (rl if isinstance(run, RunDir) else llm).append(run)
    return rl, llm
