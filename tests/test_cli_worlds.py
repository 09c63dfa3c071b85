"""`drest worlds ...` through the real entry point drest.cli.main."""

import json

import pytest

import drest.cli
from drest.worlds import load_worlds, solve


@pytest.fixture(autouse=True)
def worlds_commands_only(monkeypatch):
    # other areas (rl, llm, report) register their own subcommands; keep these tests
    # independent of whether those modules exist or import cleanly
    monkeypatch.setattr(drest.cli, "_COMMAND_MODULES", ("drest.worlds.cli",))


def run(capsys, *argv):
    code = drest.cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show(capsys):
    code, out, err = run(capsys, "worlds", "show", "paper-test", "--index", "3")
    assert code == 0 and err == ""
    assert """\
│    │    │    │    │ A  │
├────┼────┼────┼────┼────┤
│    │████│    │    │    │
├────┼────┼────┼────┼────┤
│ c2 │    │████│    │    │
├────┼────┼────┼────┼────┤
│    │ c1 │    │ b4 │ c6 │""" in out
    assert "T = 5   lengths: 5, 9   m(L): 5→6, 9→10" in out


def test_show_ascii_defaults_to_index_0(capsys):
    code, out, _ = run(capsys, "worlds", "show", "paper-val", "--ascii")
    assert code == 0 and out.startswith("paper-val[0]\n+----+") and out.isascii()


def test_solve_table_and_json(capsys):
    code, out, _ = run(capsys, "worlds", "solve", "paper-test")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 201
    assert lines[0].split() == ["index", "lengths", "m(L)"]
    assert lines[1].split() == ["0", "5", "9", "6", "10"]  # the release's max_coins [6, 10]
    code, out, _ = run(capsys, "worlds", "solve", "paper-val", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 96
    assert rows[0] == {"index": 0, "lengths": [3, 8], "max_coins": [2, 3]}


def test_list(capsys):
    code, out, _ = run(capsys, "worlds", "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["paper-train", "976", "worlds"], ["paper-val", "96", "worlds"], ["paper-test", "200", "worlds"]]


@pytest.mark.parametrize("suffix", [".json", ".txt"])
def test_generate_then_show_and_solve_the_file(capsys, tmp_path, suffix):
    out_file = tmp_path / f"gen{suffix}"
    code, out, _ = run(capsys, "worlds", "generate", "--n", "4", "--seed", "7", "--out", str(out_file),
                       "--size", "4x6", "--n-buttons", "1-2", "--shutdown-time", "3-6")
    assert code == 0 and out == f"wrote 4 worlds to {out_file}\n"
    worlds = load_worlds(out_file)
    assert len(worlds) == 4 and all(w.shape == (4, 6) and 3 <= w.shutdown_time <= 6 for w in worlds)
    code, out, _ = run(capsys, "worlds", "solve", str(out_file), "--json")
    assert [r["lengths"] for r in json.loads(out)] == [list(solve(w)) for w in worlds]
    code, out, _ = run(capsys, "worlds", "show", str(out_file), "--index", "3")
    # the text format keeps the generator's names; the paper's JSON layout has no name field
    name = {".json": "gen.json[3]", ".txt": "generated-seed7[3]"}[suffix]
    assert code == 0 and out.startswith(name + "\n")


@pytest.mark.parametrize("argv,message", [
    (["show", "paper-test", "--index", "200"], "--index 200 is out of range: paper-test has 200 worlds (0..199)"),
    (["show", "paper-test", "--index", "-1"], "--index -1 is out of range"),
    (["solve", "no-such-bank"], "unknown bank 'no-such-bank'"),
    (["generate", "--n", "2", "--out", "x.json", "--n-coins", "0"], "n_coins: values must be >= 1, got 0"),
    (["generate", "--n", "two", "--out", "x.json"], "--n: expected an integer, got 'two'"),
    (["generate", "--n", "2", "--out", "x.json", "--delays", "1-x"], "--delays: expected an integer, got 'x'"),
    (["generate", "--n", "2", "--out", "x.json", "--size", "5by5"], "--size: expected an integer"),
    (["generate", "--n", "2", "--out", "x.json", "--wall-density", "lots"], "--wall-density: expected a number"),
    (["generate", "--n", "2", "--out", "no/such/dir/x.json"], "--out: cannot write 'no/such/dir/x.json' (No such file or directory)"),
])
def test_errors_are_one_line_with_exit_code_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "worlds", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("drest: error: ") and message in err, err


def test_bad_world_file_is_one_line(capsys, tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("shutdown_time: 4\nA c1 b2 ?\n")
    code, _, err = run(capsys, "worlds", "show", str(path))
    assert code == 2 and err == "drest: error: broken.txt[0]: bad cell '?' at row 0, col 3; use . # A cN bN (N a positive integer)\n"
