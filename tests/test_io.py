"""drest.io: atomic writes (disk full included), JSON-lines reading, output-directory checks."""

from __future__ import annotations

import os

import pytest

from drest.errors import DrestError
from drest.io import append_jsonl, atomic_open, check_out_dir, read_jsonl, write_atomic, write_dir


def test_write_atomic_replaces_whole_file(tmp_path):
    p = tmp_path / "a.txt"
    write_atomic(p, "old\n")
    write_atomic(p, "new\n")
    assert p.read_text() == "new\n" and os.listdir(tmp_path) == ["a.txt"]
    assert oct(p.stat().st_mode & 0o777) == "0o644"


def test_failure_inside_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    write_atomic(p, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old\n" and os.listdir(tmp_path) == ["a.txt"]


def test_disk_full_is_one_line_and_leaves_nothing(small_disk):
    d = small_disk(64 * 1024)
    p = d / "big.bin"
    write_atomic(p, b"x" * 1000)
    with pytest.raises(DrestError) as e:
        write_atomic(p, b"y" * 200_000)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and "No space left on device" in msg
    assert p.read_bytes() == b"x" * 1000 and sorted(os.listdir(d)) == ["big.bin"]


def test_unwritable_directory_is_one_line(tmp_path):
    with pytest.raises(DrestError, match="cannot write"):
        write_atomic(tmp_path / "missing" / "a.txt", "x")


def test_read_jsonl_garbage_line_names_file_and_line(tmp_path):
    p = tmp_path / "m.jsonl"
    append_jsonl(p, [{"a": 1}, {"a": 2}])
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]
    with open(p, "ab") as f:
        f.write(b"\xff\xfegarbage\n{\"a\": 4}\n")
    with pytest.raises(DrestError, match=r"m.jsonl' line 3 is not a JSON record"):
        read_jsonl(p)
    # a garbage line is refused even where a torn tail is tolerated: it is not the last line
    with pytest.raises(DrestError, match="line 3"):
        read_jsonl(p, torn_tail_ok=True)
    assert read_jsonl(p, limit=2) == [{"a": 1}, {"a": 2}]


def test_read_jsonl_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert read_jsonl(p, torn_tail_ok=True) == [{"a": 1}, {"a": 2}]
    with pytest.raises(DrestError, match="line 3"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n[1, 2]\n')  # valid JSON, not a record
    with pytest.raises(DrestError, match="line 2"):
        read_jsonl(p, torn_tail_ok=True)
    assert read_jsonl(tmp_path / "none.jsonl") == []


def test_check_out_dir(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(DrestError, match="--out: .* is a file; give a directory"):
        check_out_dir(f)
    with pytest.raises(DrestError, match="--out: cannot write into"):
        check_out_dir(f / "sub")
    assert check_out_dir(tmp_path / "new" / "dir").is_dir()


def test_check_out_dir_read_only(small_disk):
    ro = small_disk(64 * 1024, readonly=True)
    with pytest.raises(DrestError, match="--out: cannot write into .*Read-only file system"):
        check_out_dir(ro / "run")


def test_write_dir_swaps_a_directory_in_whole_and_keeps_the_old_one_on_failure(tmp_path):
    target = tmp_path / "adapter"

    def write(text):
        def fill(d):
            d.mkdir()
            (d / "weights.txt").write_text(text)
        return fill

    write_dir(target, write("one"))
    write_dir(target, write("two"))
    assert (target / "weights.txt").read_text() == "two"

    def broken(d):
        write("three")(d)
        raise KeyboardInterrupt  # killed half-way

    with pytest.raises(KeyboardInterrupt):
        write_dir(target, broken)
    assert (target / "weights.txt").read_text() == "two"
    write_dir(target, write("four"))  # the leftover temporary directory is cleared
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
    assert (target / "weights.txt").read_text() == "four"
