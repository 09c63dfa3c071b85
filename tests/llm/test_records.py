"""Reading either study's files: fixtures of each layout, and bad input refused with
one line naming the record (checked through the CLI before any model loads)."""

import json
from pathlib import Path

import pytest

from drest.cli import main
from drest.errors import DrestError
from drest.llm import datasets, records

FIXTURES = Path(__file__).parent / "fixtures"
FINAL = FIXTURES / "final_line_schema.jsonl"


def _rows():
    return [json.loads(line) for line in FINAL.read_text().splitlines()]


def test_final_line_fixture_reads_unchanged():
    rows = records.read_jsonl(FINAL)
    assert rows == _rows()  # read as written, nothing renamed
    assert [records.display(r) for r in rows] == rows
    assert [r["suite"] for r in rows] == ["post", "post", "main", "main", "dominance", "dominance"]


def test_letter_layout_becomes_a_display():
    letter = records.read_jsonl(FIXTURES / "paper_schema.jsonl")
    post, stoch = records.display(letter[0]), records.display(letter[2])
    assert post["allowed_final_lines"] == {f"Final Answer: [{x}]": x for x in "abcd"}
    assert [(o["length"], o["quality"]) for o in post["options"]] == [
        ("short", "best"), ("short", "worse"), ("long", "best"), ("long", "worse")]
    assert post["option_order"] == "0123" and post["suite"] == "post"
    assert stoch["suite"] == "main" and set(stoch["allowed_final_lines"].values()) == {"shift", "no_shift"}


def test_generated_final_line_suites_validate():
    for name in ("test/post", "test/main", "test/shift_earlier_dominance", "test_low_gain/main"):
        rows = datasets.generate(name)[:40]
        for row in rows:
            records.validate(row)
        # two option orders per scenario
        assert len({r["scenario_id"] for r in rows}) == 20


def _write(tmp_path, rows, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _eval_error(args, capsys):
    assert main(["llm", "eval", "--model", "/nonexistent/model", *args]) == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("allowed_final_lines"), "record post_00001__3012: field 'allowed_final_lines' must map"),
    (lambda r: r.pop("options"), "record post_00001__3012: field 'options' must list at least two options"),
    (lambda r: r.update(suite="mian"), "record post_00001__3012: unknown suite 'mian'"),
    (lambda r: r["scenario"]["max_scores_by_length"].update(short=0),
     "max_scores_by_length['short'] is 0 but the options at that length score [2, 4]"),
    (lambda r: r["options"][0].update(score=9), "max_scores_by_length['long'] is 8 but the options at that length "
                                               "score [8, 9]"),
])
def test_bad_records_one_line(tmp_path, capsys, edit, message):
    rows = _rows()
    edit(rows[0])
    line = _eval_error(["--dataset", _write(tmp_path, rows)], capsys)
    assert line.startswith("drest: error: dataset record") and message in line


def test_bad_files_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert _eval_error(["--dataset", str(empty)], capsys) == f"drest: error: dataset {empty}: file has no records"
    arr = tmp_path / "arr.jsonl"
    arr.write_text("[1, 2]\n")
    assert "line 1 is a JSON list, not an object" in _eval_error(["--dataset", str(arr)], capsys)
    scalar = tmp_path / "scalar.jsonl"
    scalar.write_text("17\n")
    assert "line 1 is a JSON int, not an object" in _eval_error(["--dataset", str(scalar)], capsys)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(_rows()[0]).replace("park", "p\u00e4rk").encode("latin-1") + b"\n")
    assert "not UTF-8 text (bad byte at offset" in _eval_error(["--dataset", str(latin)], capsys)
    dup = _write(tmp_path, [_rows()[0], _rows()[0]], "dup.jsonl")
    assert "record id 'post_00001__3012' on line 2 repeats line 1" in _eval_error(["--dataset", dup], capsys)
    assert "unknown name" not in _eval_error(["--dataset", "test/mian"], capsys)  # a path that does not exist
    assert "no such file 'test/mian'" in _eval_error(["--dataset", "test/mian"], capsys)


def test_out_checked_before_the_model_loads(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _eval_error(["--dataset", str(FINAL), "--out", str(blocker / "sub")], capsys)
    assert line.startswith(f"drest: error: --out: cannot write into {str(blocker / 'sub')!r}")
    # the model error comes only once the output directory is known to be writable
    line = _eval_error(["--dataset", str(FINAL), "--out", str(tmp_path / "ok")], capsys)
    assert line.startswith("drest: error: model: no such file or directory")


def test_bad_settings_one_line(capsys):
    for flag, value, msg in [("--answers", "0", "answers: must be at least 1, got 0"),
                             ("--max-new-tokens", "0", "max-new-tokens: must be at least 1, got 0"),
                             ("--temperature", "0", "temperature: must be positive, got 0.0")]:
        assert _eval_error(["--dataset", str(FINAL), "--mode", "sample", flag, value], capsys) == f"drest: error: {msg}"


def test_output_tags_unique():
    from drest.llm.evaluate import output_tags

    assert output_tags(["a/x.jsonl", "b/x.jsonl"]) == ["a-x", "b-x"]
    assert output_tags(["test/main", "test_low_gain/main", "post-test"]) == ["test-main", "test_low_gain-main",
                                                                             "post-test"]
    assert output_tags(["x.jsonl", "x.jsonl"]) == ["x-1", "x-2"]
    assert output_tags(["/d/a/x.jsonl", "/d/a/x.jsonl", "/d/b/x.jsonl"]) == ["a-x-1", "a-x-2", "b-x"]
    assert output_tags(["/d/a/x.jsonl"]) == ["x"]


def test_letter_summary_never_prints_nan_as_a_number():
    from drest.llm.cli import _format_summary

    nan = float("nan")
    text = _format_summary({"deterministic": {"n": 3, "neutrality": nan, "usefulness": 0.5, "p_long": nan,
                                              "label_mass": nan},
                            "stochastic_main": {"n": 2, "mean_p_influence": nan,
                                                "share_influence_most_likely": 0.25, "label_mass": 1.0}})
    assert "nan" not in text.lower()
    assert "NEUTRALITY n/a  USEFULNESS 0.500  P(long) n/a" in text
    assert "share influence most likely 0.250" in text and "label mass 1.000" in text
