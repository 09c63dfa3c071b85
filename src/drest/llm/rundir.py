"""A fine-tuning run directory, shared by both trainers: ``config.json``,
``log.jsonl`` (one row per meta-episode), ``adapter/`` and ``train_summary.json``;
refusing to start over a run or to resume with other settings."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from ..errors import DrestError
from ..io import write_atomic, write_dir


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False))


def start(config, has_checkpoint: bool, resume: bool) -> Path:
    """Create ``config.out`` for a fresh run or check a resumed one's settings; write config.json."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if resume and not has_checkpoint:
        raise DrestError(f"resume: no checkpoint under {str(out)!r}; run without --resume to start fresh")
    if not resume and has_checkpoint:
        raise DrestError(f"out: {str(out)!r} already holds a run; pass --resume to continue it or choose a new --out")
    saved = out / "config.json"
    if resume and saved.is_file():
        old = json.loads(saved.read_text())
        changed = [f.name for f in fields(config) if old.get(f.name) != getattr(config, f.name)]
        if changed:
            raise DrestError(f"resume: settings differ from the checkpoint's ({', '.join(changed)}); use the same ones")
    write_json_atomic(saved, asdict(config))
    return out


def open_log(path: Path, prompts_done: int):
    """The training log, opened for appending after dropping rows written past the
    checkpoint being resumed (an interrupted run may have logged prompts it will redo)."""
    kept = []
    if prompts_done and path.is_file():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["prompts_done"] <= prompts_done]
    path.write_text("".join(line + "\n" for line in kept))
    return path.open("a", encoding="utf-8")


def publish_adapter(model, out: Path) -> Path:
    """Save the adapter to ``out/adapter`` (never half-written)."""
    return write_dir(out / "adapter", model.save_pretrained)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize_log(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tail = rows[-max(1, len(rows) // 5):]
    return {
        "mean_reward": _mean(r["mean_reward"] for r in rows),
        "mean_reward_last_fifth": _mean(r["mean_reward"] for r in tail),
        "share_long": _mean(r["share_long"] for r in rows),
        "share_best": _mean(r["share_best"] for r in rows),
        "invalid_answers": int(sum(r["invalid"] for r in rows)),
        # exact mode: probability on the valid labels, the counterpart of invalid answers
        "label_mass_last_fifth": _mean(r.get("label_mass") for r in tail),
    }


def finite_or_none(value):
    """A float for printing/JSON, or None where it is not a finite number (never print NaN as a number)."""
    return float(value) if value is not None and math.isfinite(float(value)) else None
