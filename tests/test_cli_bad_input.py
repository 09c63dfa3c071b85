"""Bad input to every CLI command ends as ONE line, `drest: error: ...`, and a nonzero exit.

A table of (argv, expected words in the error line[, the helper whose code still fails it]). Each row runs through the CLI
entry in-process; a traceback (any exception escaping `main`) fails the row, and so
does a second line on stderr. `{d}` in an argv is a folder of prepared bad inputs:

    binary.json, binary.txt, binary.yaml, binary.jsonl   PNG bytes (not UTF-8)
    utf16.txt                                             a world file in UTF-16
    file                                                  an existing plain file
    empty/                                                an empty directory
    run/                                                  a copy of a committed Table 1 run
    array.jsonl, scalar.jsonl                             a dataset line that is [..] / 3
    big.txt                                               a world too big for the exact solver
    small.txt                                             a 1x4 world (the runs are 5x5)
"""

import shutil
from pathlib import Path

import pytest

from drest.cli import main

RUN = Path(__file__).parents[1] / "results" / "table1" / "run-2x64" / "ppo-default"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    for name in ("binary.json", "binary.txt", "binary.yaml", "binary.jsonl"):
        (d / name).write_bytes(PNG)
    (d / "utf16.txt").write_bytes("shutdown_time: 2\nA c1 b1\n".encode("utf-16"))
    (d / "file").write_text("a plain file\n")
    (d / "empty").mkdir()
    shutil.copytree(RUN, d / "run")
    (d / "array.jsonl").write_text('["a", "b"]\n')
    (d / "scalar.jsonl").write_text("3\n")
    (d / "big.txt").write_text("shutdown_time: 1000000000\nA c1 b1000000\n")
    (d / "small.txt").write_text("shutdown_time: 1\nc1 A b1 c2\n")  # a 1x4 world
    return d


TRAIN = ["train", "--steps", "2k", "--no-progress"]
LLM_EVAL = ["llm", "eval", "--model", "{d}/empty", "--quiet"]
LLM_TRAIN = ["llm", "train", "--model", "{d}/empty", "--quiet"]

ROWS = [
    # top level and argparse
    (["nosuch"], "invalid choice: 'nosuch'"),
    (["worlds"], "the following arguments are required"),
    # drest worlds
    (["worlds", "show", "{d}/binary.json"], "binary.json: not a UTF-8 text world file"),
    (["worlds", "show", "{d}/utf16.txt"], "utf16.txt: not a UTF-8 text world file (byte 0xff at offset 0)"),
    (["worlds", "solve", "{d}/binary.txt"], "not a UTF-8 text world file"),
    (["worlds", "solve", "paper-tset"], "unknown bank 'paper-tset'"),
    (["worlds", "solve", "{d}/empty"], "is a directory"),
    (["worlds", "solve", "{d}/big.txt"], "too big for the exact solver"),
    (["worlds", "show", "paper-test", "--index", "999"], "--index 999 is out of range"),
    (["worlds", "show", "paper-test", "--index", "x"], "argument --index: invalid int value: 'x'"),
    (["worlds", "show", "paper-test", "--png", "{d}/file/x.png"], "--png: cannot write"),
    (["worlds", "generate", "--n", "0", "--out", "{d}/g.json"], "n: the number of worlds must be a positive int"),
    (["worlds", "generate", "--n", "two", "--out", "{d}/g.json"], "--n: expected an integer, got 'two'"),
    (["worlds", "generate", "--n", "1_0", "--out", "{d}/g.json"], "--n: expected an integer, got '1_0'"),
    (["worlds", "generate", "--n", "1", "--delays", "+2", "--out", "{d}/g.json"], "--delays: expected an integer"),
    (["worlds", "generate", "--n", "2", "--out", "{d}/empty"], "--out"),
    (["worlds", "generate", "--n", "2", "--out", "{d}/file/g.json"], "--out"),
    (["worlds", "generate", "--n", "1", "--shutdown-time", "1000000000", "--out", "{d}/g.json"],
     "too big for the exact solver"),
    (["worlds", "generate", "--n", "1", "--size", "1000x1000", "--out", "{d}/g.json"], "size: a 1000x1000 grid"),
    # drest train
    (TRAIN + ["--out", "{d}/t", "--config", "{d}/binary.yaml"], "binary.yaml"),
    (TRAIN + ["--out", "{d}/t", "--set", "lr=abc"], "lr"),
    (TRAIN + ["--out", "{d}/t", "--set", "lr=0x64"], "lr"),
    (TRAIN + ["--out", "{d}/t", "--set", "actor_hidden=wide"], "actor_hidden"),
    (TRAIN + ["--out", "{d}/t", "--set", "eval_banks=5"], "eval_banks"),
    (TRAIN + ["--out", "{d}/t", "--set", "colour=red"], "unknown key 'colour'"),
    (TRAIN + ["--out", "{d}/t", "--set", "train_bank=paper-tset"], "paper-tset"),
    (TRAIN + ["--out", "{d}/t", "--set", "train_bank={d}/binary.json"], "not a UTF-8 text world file"),
    (TRAIN + ["--out", "{d}/t", "--set", "train_bank={d}/small.txt"], "train_bank: "),
    (TRAIN + ["--out", "{d}/t", "--seeds", "0"], "--seeds"),
    (TRAIN + ["--out", "{d}/t", "--seeds", "1_0"], "--seeds: expected an integer, got '1_0'"),
    (TRAIN + ["--out", "{d}/file"], "--out"),
    (TRAIN + ["--out", "{d}/file/sub"], "--out"),
    (["train", "--resume", "{d}/nothing-here"], "--resume"),
    # drest eval
    (["eval", "{d}/nothing-here"], "nothing-here"),
    (["eval", "{d}/empty"], "empty"),
    (["eval", "{d}/run", "--bank", "paper-tset"], "unknown bank 'paper-tset'"),
    (["eval", "{d}/run", "--bank", "{d}/binary.json"], "not a UTF-8 text world file"),
    (["eval", "{d}/run", "--bank", "{d}/small.txt"], "holds 1x4 worlds, but drest.rl runs play 5x5 worlds"),
    # drest reproduce
    (["reproduce", "table2"], "unknown target 'table2'"),
    (["reproduce", "table1", "--steps", "2k", "--seeds", "1", "--out", "{d}/r", "--set", "algo=a2c"], "--set algo"),
    (["reproduce", "table1", "--steps", "2k", "--seeds", "1", "--out", "{d}/r", "--set", "reward=default"],
     "--set reward"),
    (["reproduce", "table1", "--steps", "2k", "--seeds", "0", "--out", "{d}/r"], "--seeds"),
    (["reproduce", "table1", "--steps", "2k", "--seeds", "1", "--out", "{d}/r", "--set", "lr=0x64"], "lr"),
    (["reproduce", "table1", "--steps", "2k", "--seeds", "1", "--out", "{d}/file"], "--out"),
    # drest report
    (["report", "{d}/nothing-here", "--out", "{d}/r.html"], "nothing-here"),
    (["report", "{d}/binary.json", "--out", "{d}/r.html"], "binary.json"),
    (["report", "{d}/run", "--out", "{d}/file/r.html"], "--out"),
    (["report", "{d}/run", "--out", "{d}/empty"], "--out"),
    (["report", "{d}/run", "--out", "{d}/r.html", "--worlds", "abc"], "--worlds"),
    (["report", "{d}/run", "--out", "{d}/r.html", "--worlds", "5-2"], "--worlds: the range 5-2 runs backwards"),
    (["report", "{d}/run", "--out", "{d}/r.html", "--worlds", "+1"], "--worlds: expected 'all'"),
    (["report", "{d}/run", "--out", "{d}/r.html", "--worlds", "0-999"], "--worlds: index 200 is out of range"),
    # drest llm
    (["llm", "datasets", "--out", "{d}/file"], "--out"),
    (["llm", "eval", "--model", "{d}/nothing-here", "--dataset", "neutrality-test"], "model: no such file"),
    (LLM_EVAL + ["--dataset", "{d}/array.jsonl"], "array.jsonl"),
    (LLM_EVAL + ["--dataset", "{d}/scalar.jsonl"], "scalar.jsonl"),
    (LLM_EVAL + ["--dataset", "{d}/binary.jsonl"], "binary.jsonl"),
    (LLM_EVAL + ["--dataset", "no-such-set"], "no-such-set"),
    (LLM_EVAL + ["--dataset", "neutrality-test", "--batch-size", "0"], "batch"),
    (LLM_EVAL + ["--dataset", "neutrality-test", "--threads", "-1"], "threads"),
    (LLM_EVAL + ["--dataset", "neutrality-test", "--out", "{d}/file"], "--out"),
    (LLM_EVAL + ["--dataset", "neutrality-test", "--out", "{d}/file/sub"], "--out"),
    (LLM_EVAL + ["--dataset", "neutrality-test", "--limit", "0"], "limit"),
    (LLM_EVAL + ["--dataset", "test/post", "--mode", "sample", "--answers", "0"], "answers"),
    (LLM_EVAL + ["--dataset", "test/post", "--mode", "sample", "--temperature", "nan"], "temperature"),
    (LLM_EVAL + ["--dataset", "test/post", "--mode", "sample", "--max-new-tokens", "0"], "max-new-tokens"),
    (LLM_TRAIN + ["--out", "{d}/lt", "--group-size", "0"], "group"),
    (LLM_TRAIN + ["--out", "{d}/lt", "--threads", "-1"], "threads"),
    (LLM_TRAIN + ["--out", "{d}/lt", "--lr", "nan"], "lr"),
    (LLM_TRAIN + ["--out", "{d}/lt", "--invalid-penalty", "inf"], "invalid"),
    (LLM_TRAIN + ["--out", "{d}/file"], "--out"),
    (["llm", "demo", "--threads", "-1", "--out", "{d}/demo"], "threads"),
]


def _param(argv, expected, owner=None):
    """A row; ``owner`` names the helper whose code still fails it (a strict xfail, so it
    must be lifted the moment the row passes)."""
    marks = [pytest.mark.xfail(strict=True, reason=f"owned by {owner}")] if owner else []
    return pytest.param(argv, expected, id=" ".join(argv).replace("{d}/", ""), marks=marks)


@pytest.mark.parametrize("argv, expected", [_param(*row) for row in ROWS])
def test_bad_input_is_one_line(argv, expected, d, capsys):
    argv = [a.replace("{d}", str(d)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None), err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("drest: error: "), err
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("exc, code, line", [
    (OSError(28, "No space left on device", "/data/run/metrics.jsonl"), 1,
     "drest: error: No space left on device (/data/run/metrics.jsonl)"),
    (PermissionError(13, "Permission denied", "/data/x"), 1, "drest: error: Permission denied (/data/x)"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 1,
     "drest: error: an input file is not UTF-8 text (invalid start byte at byte 0); drest reads UTF-8 text files"),
    (KeyboardInterrupt(), 130, "drest: interrupted"),
])
def test_system_failures_are_one_line(monkeypatch, capsys, exc, code, line):
    import drest.worlds.cli

    def fail(args):
        raise exc

    monkeypatch.setattr(drest.worlds.cli, "add_commands", _with_list(drest.worlds.cli.add_commands, fail))
    assert main(["worlds", "list"]) == code
    assert capsys.readouterr().err == line + "\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    import drest.worlds.cli

    def bug(args):
        raise TypeError("a genuine bug")

    monkeypatch.setattr(drest.worlds.cli, "add_commands", _with_list(drest.worlds.cli.add_commands, bug))
    with pytest.raises(TypeError, match="a genuine bug"):
        main(["worlds", "list"])


def _with_list(add_commands, func):
    """add_commands with `worlds list` bound to ``func`` (set_defaults captured the original)."""
    def add(sub):
        add_commands(sub)
        sub.choices["worlds"]._subparsers._group_actions[0].choices["list"].set_defaults(func=func)
    return add
