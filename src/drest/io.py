"""Small file idioms drest writes and reads with, in one place.

* ``atomic_open`` / ``write_atomic``: a file appears complete or not at all. The data go
  to a temporary file beside the target (same filesystem, so the final ``os.replace`` is
  atomic), are fsynced, then moved into place. On any failure (disk full included) the
  temporary file is removed and an ``OSError`` becomes one ``DrestError`` line naming
  the path: no half-written file, no stray ``.tmp`` left behind.
* ``write_dir``: the same for a directory (a model adapter, a checkpoint): written beside
  the target, then swapped in; a killed write leaves the old one or none, never a mix.
* ``append_jsonl`` / ``read_jsonl``: JSON-lines logs. Appends are fsynced, so a record
  a checkpoint counts as written is on disk. A reader fails on a garbage line with the
  file and line number; only a torn *last* line (a write cut short by a crash, no
  trailing newline) may be skipped, and only where the caller says it is safe.
* ``check_out_dir``: an output directory is checked (not a file, writable) before any
  work starts.
* ``exit_now``: leave the process without waiting for work XLA still runs (an
  interrupted training run has checkpointed; its dispatched chunk is not needed).
* ``fault_point``: deterministic fault injection for the tests that kill a run at an
  exact instant (``DREST_FAULT=NAME:K`` kills the process the K-th time it passes NAME).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from .errors import DrestError


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", label: str | None = None,
                backup: str | Path | None = None) -> Iterator[IO]:
    """``with atomic_open(path, "w" | "wb") as f:`` write ``f``; on normal exit the file
    replaces ``path`` in one step, on any exception ``path`` is untouched. The temporary
    file is made on entry, so an unwritable place fails before the caller's work.
    ``label`` (e.g. ``"--out"``) starts the error message. ``backup``: the file being
    replaced is first moved there (one previous good copy to fall back on)."""
    lead = f"{label}: " if label else ""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DrestError(f"{lead}cannot write {str(path)!r} ({_why(exc)})") from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a result file should read like any other
        if backup is not None and path.exists():
            os.replace(path, backup)
        fault_point(f"replace:{path.name}")
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DrestError(f"{lead}cannot write {str(path)!r} ({_why(exc)}); nothing was written") from None
        raise


def write_atomic(path: str | Path, data: str | bytes, label: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_open``)."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", label) as f:
        f.write(data)


def write_dir(path: str | Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` fills a fresh temporary directory beside ``path``, which then replaces
    ``path``. Directories cannot be swapped in one step: the old one is moved aside first
    and removed last, so at every instant ``path`` is absent, the old or the new one."""
    import shutil

    path = Path(path)
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        write(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DrestError(f"cannot write {str(path)!r} ({_why(exc)}); nothing was written") from None
    shutil.rmtree(old, ignore_errors=True)
    return path


def append_jsonl(path: str | Path, records: list[dict]) -> None:
    """Append one JSON line per record and fsync (the caller may count them as written)."""
    path = Path(path)
    text = "".join(json.dumps(r) + "\n" for r in records)
    try:
        with open(path, "a", encoding="utf-8") as f:
            fault_point(f"append:{path.name}", lambda: (f.write(text[: len(text) // 2]), f.flush()))
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise DrestError(f"cannot write {str(path)!r} ({_why(exc)})") from None
    fault_point(f"appended:{path.name}")


def read_jsonl(path: str | Path, *, torn_tail_ok: bool = False, limit: int | None = None) -> list[dict]:
    """The JSON objects of a JSON-lines file ([] if it does not exist).

    A line that is not a JSON object is a ``DrestError`` naming the file and line;
    with ``torn_tail_ok`` a last line without its newline that does not parse (a
    write cut short) is skipped instead. ``limit``: read only the first ``limit``
    records (lines past them are not looked at).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DrestError(f"cannot read {str(path)!r} ({_why(exc)})") from None
    lines = raw.split(b"\n")
    torn = lines.pop()  # after the last newline: b"" for a complete file
    out = []
    for i, line in enumerate(lines + ([torn] if torn.strip() else []), 1):
        if limit is not None and len(out) >= limit:
            break
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            rec = None
        if not isinstance(rec, dict):
            if torn_tail_ok and line is torn:
                break
            raise DrestError(f"{str(path)!r} line {i} is not a JSON record (a damaged file?): "
                             f"{line[:60].decode('utf-8', 'replace')!r}")
        out.append(rec)
    return out


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a directory drest may write into (created if missing), checked before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DrestError(f"{flag}: {str(path)!r} is a file; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise DrestError(f"{flag}: cannot write into {str(path)!r} ({_why(exc)})") from None
    return path


_fault_hits: dict[str, int] = {}


def exit_now(code: int) -> None:
    """Exit with ``code`` at once, stdio flushed. A normal interpreter exit waits for the
    training chunk already dispatched to XLA (up to a chunk's length: about 6 min for the
    5-seed 3 x 256 A2C run's 12.4M-step chunks); once a run has checkpointed, it is not needed."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def fault_point(name: str, before: Callable[[], object] | None = None) -> None:
    """Test hook: with ``DREST_FAULT=NAME:K`` in the environment the process kills itself
    (SIGKILL, as ``kill -9`` would) the K-th time it passes the point ``name``, after calling
    ``before`` (e.g. to leave half a line written). Points: ``replace:FILE`` (between moving
    the old file to its backup and the new one into place), ``append:FILE`` and ``appended:FILE``."""
    spec = os.environ.get("DREST_FAULT")
    if not spec:
        return
    target, _, k = spec.rpartition(":")
    if target != name:
        return
    _fault_hits[name] = _fault_hits.get(name, 0) + 1
    if _fault_hits[name] == int(k):
        if before is not None:
            before()
        os.kill(os.getpid(), signal.SIGKILL)
