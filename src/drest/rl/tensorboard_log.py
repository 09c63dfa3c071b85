"""Training curves to TensorBoard (``drest train --log tensorboard``), when it is installed.

Written beside the run as ``RUN_DIR/tensorboard/`` with the env step as TensorBoard's
step: per split the mean NEUTRALITY/USEFULNESS over seeds and each seed's value, the
training speed and the last chunk's losses. ``metrics.jsonl`` stays the record of the run;
these files are a view of it for ``tensorboard --logdir RUN_DIR``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import DrestError

LOGGERS = ("tensorboard",)


class TensorBoardLog:
    def __init__(self, run_dir: Path):
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            raise DrestError("--log tensorboard: TensorBoard is not installed; pip install tensorboard "
                             "(or drest's dev extra)") from None
        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(str(Path(run_dir) / "tensorboard"))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        value = [self._summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items() if v is not None]
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=self._summary(value=value)))

    def evaluation(self, records: list[dict], steps_per_sec: float | None, losses: dict | None) -> None:
        """One evaluation's records (all seeds and splits at one env step) and the chunk's speed and losses."""
        values: dict[str, float] = {}
        for split in dict.fromkeys(r["split"] for r in records):
            rs = [r for r in records if r["split"] == split]
            for metric in ("neutrality", "usefulness"):
                values[f"{split}/{metric}"] = float(np.mean([r[metric] for r in rs]))
                values.update({f"{split}/{metric}/seed_{r['seed']}": r[metric] for r in rs})
        values["speed/env_steps_per_sec"] = steps_per_sec
        values.update({f"loss/{k}": v for k, v in (losses or {}).items()})
        self.scalars(records[0]["env_steps"], values)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
