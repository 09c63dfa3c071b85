"""The record schema of drest's language-model datasets: reading JSONL files of either
study's layout, checking every record, and viewing each record as one *display*.

* letter layout (Cullen et al. 2026; ``prompt_type`` present): ``prompt``,
  ``options[label] = {length, score, quality_rank}`` or ``{action, ...}``,
  ``valid_answers``, the answer written as ``Final Answer: [x]``.
* final-line layout (the authors' newer study; ``display_id`` present): ``messages``,
  ``options`` as a list of ``{position, label, text, length, quality, score}``
  (POST) or ``{..., action: shift|no_shift}`` (binary), ``allowed_final_lines``
  (line -> label or action), ``suite``, ``scenario_id``, ``option_order``,
  ``scenario`` (the numbers).

:func:`display` turns a record of either layout into the final-line layout, which
sampling, parsing and the measures read; the letter layout's allowed lines are
``Final Answer: [x]``. Contradictory records (a best score below an option's
score, duplicate ids, allowed lines naming no option) are refused with one line
naming the record.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DrestError
from .wording import NO_SHIFT, SHIFT

POST_TYPE = "deterministic"
STOCHASTIC_TYPES = {
    "stochastic_main": "main",
    "stochastic_dominance": "dominance",
    "stochastic_zero_cost": "zero_cost",
    "stochastic_joint_noshift": "joint_noshift",
}
LENGTHS = ("short", "long")
POST_SUITES = ("post", "train")
BINARY_SUITES = ("main", "dominance", "zero_cost", "joint_noshift", "shift_earlier", "shift_earlier_dominance")
ACTIONS = ("shift", "no_shift")
LETTER_PREFIX = "Final Answer: ["
_LETTER_ACTION = {NO_SHIFT: "no_shift", SHIFT: "shift"}


def _require(cond: bool, rec_id, message: str) -> None:
    if not cond:
        raise DrestError(f"dataset record {rec_id}: {message}")


def is_letter_layout(record: dict) -> bool:
    return "prompt_type" in record and "display_id" not in record


def _check_best_scores(rid, options: list[dict], best: dict) -> None:
    """``best`` (max_scores_by_length) must be the highest score offered at each length."""
    _require(isinstance(best, dict) and all(isinstance(best.get(k), (int, float)) for k in LENGTHS), rid,
             "field 'max_scores_by_length' needs numeric 'short' and 'long'")
    for length in LENGTHS:
        scores = [o["score"] for o in options if o["length"] == length]
        if scores and max(scores) != best[length]:
            _require(False, rid, f"max_scores_by_length[{length!r}] is {best[length]} but the options at that "
                                 f"length score {sorted(scores)}; it must equal the highest of them")


def validate_letter(record: dict) -> dict:
    """Check a letter-layout record's fields; raise DrestError naming the first bad one."""
    rid = record.get("id", "?")
    _require(isinstance(record.get("prompt"), str) and record["prompt"].strip() != "", rid,
             "field 'prompt' must be a non-empty string")
    valid = record.get("valid_answers")
    _require(isinstance(valid, list) and len(valid) >= 2, rid,
             "field 'valid_answers' must list at least two option labels, e.g. [\"a\", \"b\"]")
    options = record.get("options")
    _require(isinstance(options, dict), rid, "field 'options' must map each label to its details")
    for label in valid:
        _require(isinstance(label, str) and label in options, rid,
                 f"valid answer {label!r} has no entry in 'options'")
    ptype = record.get("prompt_type")
    if ptype == POST_TYPE:
        for label in valid:
            opt = options[label]
            _require(opt.get("length") in LENGTHS and isinstance(opt.get("score"), (int, float)), rid,
                     f"options[{label!r}] needs 'length' (short|long) and a numeric 'score'")
        _check_best_scores(rid, [options[label] for label in valid], record.get("max_scores_by_length"))
    elif ptype in STOCHASTIC_TYPES:
        actions = sorted(options[label].get("action") for label in valid)
        _require(actions == sorted([NO_SHIFT, SHIFT]), rid,
                 f"stochastic options need one action {NO_SHIFT!r} and one {SHIFT!r}")
    else:
        _require(False, rid, f"field 'prompt_type' is {ptype!r}; expected {POST_TYPE!r} or one of "
                             f"{', '.join(STOCHASTIC_TYPES)}")
    return record


def validate_final_line(record: dict) -> dict:
    """Check a final-line-layout record's fields; raise DrestError naming the first bad one."""
    rid = record.get("display_id", "?")
    _require(isinstance(rid, str) and rid != "", rid, "field 'display_id' must be a non-empty string")
    suite = record.get("suite")
    _require(suite in POST_SUITES + BINARY_SUITES, rid,
             f"unknown suite {suite!r}; expected one of {', '.join(POST_SUITES + BINARY_SUITES)}")
    messages = record.get("messages")
    if messages is None and isinstance(record.get("prompt"), str):  # the authors' training file
        messages = [{"role": "user", "content": record["prompt"]}]
    _require(isinstance(messages, list) and messages and all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in messages), rid,
        "field 'messages' must be a non-empty list of {role, content} chat turns")
    options = record.get("options")
    _require(isinstance(options, list) and len(options) >= 2 and all(isinstance(o, dict) for o in options), rid,
             "field 'options' must list at least two options as {position, label, text, ...}")
    allowed = record.get("allowed_final_lines")
    _require(isinstance(allowed, dict) and len(allowed) >= 2, rid,
             "field 'allowed_final_lines' must map each allowed final line to its option label or action")
    binary = suite in BINARY_SUITES
    if binary:
        actions = sorted(o.get("action") for o in options)
        _require(actions == sorted(ACTIONS), rid, "binary options need one action 'shift' and one 'no_shift'")
        _require(set(allowed.values()) == set(ACTIONS), rid,
                 "field 'allowed_final_lines' must map one line to 'shift' and one to 'no_shift'")
    else:
        for o in options:
            _require(o.get("length") in LENGTHS and isinstance(o.get("score"), (int, float))
                     and o.get("quality") in ("best", "worse") and isinstance(o.get("label"), str), rid,
                     f"option {o.get('label', '?')!r} needs 'label', 'length' (short|long), 'quality' "
                     "(best|worse) and a numeric 'score'")
        labels = [o["label"] for o in options]
        _require(len(set(labels)) == len(labels), rid, f"option labels {labels} repeat")
        _require(set(allowed.values()) == set(labels), rid,
                 f"field 'allowed_final_lines' must name each option label {labels} once")
        scenario = record.get("scenario") or {}
        _check_best_scores(rid, options, scenario.get("max_scores_by_length", _best_offered(options)))
        for length in LENGTHS:
            at = [o for o in options if o["length"] == length]
            for o in at:
                stronger = max(x["score"] for x in at)
                _require((o["quality"] == "best") == (o["score"] == stronger), rid,
                         f"option {o['label']!r} is marked {o['quality']!r} but scores {o['score']} where the "
                         f"best at {length} is {stronger}")
    return record


def _best_offered(options: list[dict]) -> dict:
    return {length: max((o["score"] for o in options if o["length"] == length), default=0) for length in LENGTHS}


def validate(record) -> dict:
    if not isinstance(record, dict):
        raise DrestError(f"dataset record: expected a JSON object, got a JSON {type(record).__name__}")
    return validate_letter(record) if is_letter_layout(record) else validate_final_line(record)


def suite_of(record: dict) -> str:
    if is_letter_layout(record):
        return "post" if record["prompt_type"] == POST_TYPE else STOCHASTIC_TYPES[record["prompt_type"]]
    return record["suite"]


def display(record: dict) -> dict:
    """The record in the final-line layout (a letter-layout record is converted; its
    allowed lines are ``Final Answer: [x]``; ``option_order`` is ``canonical`` when the
    do-nothing option comes first, else ``swapped``; for POST the labels' roles in
    canonical order short-best, short-worse, long-best, long-worse)."""
    if not is_letter_layout(record):
        if "messages" not in record:
            return {**record, "messages": [{"role": "user", "content": record["prompt"]}]}
        return record
    labels = record["valid_answers"]
    suite = suite_of(record)
    allowed = {f"{LETTER_PREFIX}{label}]": label for label in labels}
    if suite == "post":
        opts = [{"position": i, "label": label, "length": record["options"][label]["length"],
                 "quality": record["options"][label].get("quality_rank", "best"),
                 "score": record["options"][label]["score"]} for i, label in enumerate(labels)]
        canon = sorted(range(len(opts)), key=lambda i: (opts[i]["length"] != "short", opts[i]["quality"] != "best"))
        order = "".join(str(canon.index(i)) for i in range(len(opts)))
        scenario = {"max_scores_by_length": record["max_scores_by_length"]}
        kind = "deterministic"
    else:
        opts = [{"position": i, "label": label, "action": _LETTER_ACTION[record["options"][label]["action"]]}
                for i, label in enumerate(labels)]
        allowed = {line: _LETTER_ACTION[record["options"][label]["action"]] for line, label in allowed.items()}
        order = "canonical" if opts[0]["action"] == "no_shift" else "swapped"
        scenario = {k: record[k] for k in ("expected_score_gain_from_shift",) if k in record}
        kind = "binary"
    rid = record.get("id", "?")
    return {"display_id": rid, "scenario_id": rid, "suite": suite, "scenario_type": kind, "option_order": order,
            "label_style": "letters", "final_line_wording": "letter",
            "messages": [{"role": "user", "content": record["prompt"]}], "options": opts,
            "allowed_final_lines": allowed, "scenario": scenario}


def as_training_record(record: dict) -> dict:
    """A POST record in the form the trainers read (the letter layout's fields: ``options``
    by label, ``valid_answers``, ``max_scores_by_length``, the best option at each
    length). A final-line record keeps its ``messages`` and ``allowed_final_lines``, so
    the trainers prompt with it unchanged and read its answers by its own final lines."""
    if is_letter_layout(record):
        return record
    validate_final_line(record)
    rid = record["display_id"]
    if record["suite"] not in POST_SUITES:
        raise DrestError(f"dataset record {rid}: training needs POST prompts (suite train or post), "
                         f"got suite {record['suite']!r}")
    options = {o["label"]: {"length": o["length"], "score": o["score"], "quality_rank": o["quality"]}
               for o in record["options"]}
    best = (record.get("scenario") or {}).get("max_scores_by_length", _best_offered(record["options"]))

    def best_at(length):
        return next(label for label, o in options.items() if o["length"] == length and o["quality_rank"] == "best")

    return {"id": rid, "prompt_type": POST_TYPE, "messages": display(record)["messages"], "options": options,
            "valid_answers": list(options), "max_scores_by_length": dict(best), "drest_num_lengths": len(LENGTHS),
            "target_best_short_option": best_at("short"), "target_best_long_option": best_at("long"),
            "allowed_final_lines": dict(record["allowed_final_lines"])}


def read_jsonl(path: str | Path) -> list[dict]:
    """Read and check a JSONL file of records of either layout (drest's or the authors')."""
    path = Path(path)
    if not path.is_file():
        raise DrestError(f"dataset: no such file {str(path)!r}; pass a dataset name or a path to a .jsonl file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DrestError(f"dataset {path}: not UTF-8 text (bad byte at offset {exc.start}); "
                         "save the file as UTF-8 JSON lines") from None
    records, seen = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DrestError(f"dataset {path}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise DrestError(f"dataset {path}: line {lineno} is a JSON {type(value).__name__}, not an object; "
                             "write one record object per line")
        record = validate(value)
        rid = record.get("display_id", record.get("id"))
        if rid is not None:
            if rid in seen:
                raise DrestError(f"dataset {path}: record id {rid!r} on line {lineno} repeats line {seen[rid]}; "
                                 "ids must be unique")
            seen[rid] = lineno
        records.append(record)
    if not records:
        raise DrestError(f"dataset {path}: file has no records")
    return records
