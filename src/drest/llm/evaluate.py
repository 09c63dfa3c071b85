"""One evaluation of a dataset in either mode, as rows and per-suite measures, and the
files `drest llm eval --out DIR` writes:

* ``--mode sample``: ``DIR/<tag>/<suite>.samples.jsonl``, one line per answer with
  its parsed decision (``choice``, ``rule``, ``line``, ``cut_off``);
* ``--mode logprob``: ``DIR/<tag>.rows.jsonl``, one line per prompt;
* ``DIR/metrics.json``: settings and the measures per dataset and suite, written
  last with ``"complete": true`` (a run that stopped early leaves none).

``<tag>`` is unique per input: the dataset name or file stem, with parent folders
prepended where two inputs share a stem (``a/x.jsonl b/x.jsonl`` -> ``a-x``, ``b-x``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DrestError
from ..io import check_out_dir as _check_writable, write_atomic
from . import measures, records
from .parse import read_decision


def output_tags(names: list[str]) -> list[str]:
    """A distinct, filesystem-safe tag per dataset argument: a dataset name with ``/`` as
    ``-``; a file's stem, with as many parent folders as it takes to tell two apart."""
    parts = [list(Path(n).with_suffix("").parts) if n.endswith(".jsonl") else [n.replace("/", "-")] for n in names]
    tags = []
    for p in parts:
        depth = 1
        while depth < len(p) and any(q != p and q[-depth:] == p[-depth:] for q in parts):
            depth += 1
        tags.append("-".join(x for x in p[-depth:] if x not in ("", ".", "..", os.sep)))
    # the same argument twice: number the copies
    return [f"{t}-{tags[:i + 1].count(t)}" if tags.count(t) > 1 else t for i, t in enumerate(tags)]


def check_out_dir(out: str | Path) -> Path:
    """``drest.io.check_out_dir`` (writable now, before a model loads), then drop an old
    ``metrics.json`` so stale results never look complete."""
    out = _check_writable(out)
    try:
        (out / "metrics.json").unlink(missing_ok=True)
    except OSError as exc:
        raise DrestError(f"--out: cannot write into {str(out)!r} ({exc.strerror or exc})") from None
    return out


def labels_of(display: dict) -> dict:
    """Option label -> choice, for the parser's label rule."""
    if measures.is_binary(display):
        return {o["label"]: o["action"] for o in display["options"]}
    return {o["label"]: o["label"] for o in display["options"]}


def sample_rows(displays: list[dict], answers: list[list[tuple[str, bool]]]) -> list[dict]:
    rows = []
    for d, pairs in zip(displays, answers):
        for k, (text, cut_off) in enumerate(pairs):
            dec = read_decision(text, d["allowed_final_lines"], labels_of(d))
            rows.append({"display_id": d["display_id"], "scenario_id": d.get("scenario_id", d["display_id"]),
                         "suite": d["suite"], "option_order": d.get("option_order"), "sample": k, "answer": text,
                         "choice": dec.choice, "rule": dec.rule, "line": dec.line, "cut_off": cut_off})
    return rows


def decisions_of(rows: list[dict], displays: list[dict]) -> list[list[tuple]]:
    """Per display, (choice, cut_off) of its answers, from sample rows."""
    index = {d["display_id"]: i for i, d in enumerate(displays)}
    out: list[list[tuple]] = [[] for _ in displays]
    for r in rows:
        out[index[r["display_id"]]].append((r["choice"], r["cut_off"]))
    return out


def sampled(model, tokenizer, recs: list[dict], settings, *, backend: str = "transformers", model_path=None,
            adapter=None, progress: bool = True) -> tuple[list[dict], dict]:
    from . import sampling

    displays = [records.display(r) for r in recs]
    if backend == "vllm":
        answers = sampling.generate_vllm(model_path, tokenizer, displays, settings, adapter, progress)
    else:
        answers = sampling.generate_transformers(model, tokenizer, displays, settings, progress)
    rows = sample_rows(displays, answers)
    return rows, measures.by_suite(displays, decisions_of(rows, displays), sampled=True)


def logprob(model, tokenizer, recs: list[dict], batch_size: int, progress: bool = True) -> tuple[list[dict], dict]:
    """Option probabilities: the label after ``Final Answer: [`` for letter-layout records,
    each allowed final line as the whole reply for final-line records."""
    from . import scoring
    from .models import context_length

    displays = [records.display(r) for r in recs]
    letter = [i for i, r in enumerate(recs) if records.is_letter_layout(r)]
    lines = [i for i, r in enumerate(recs) if not records.is_letter_layout(r)]
    limit = context_length(model)
    rows: list[dict | None] = [None] * len(recs)
    probs: list[dict | None] = [None] * len(recs)
    if letter:
        for i, row in zip(letter, scoring.score(model, tokenizer, [recs[i] for i in letter], batch_size, progress,
                                                max_tokens=limit)):
            choice_of = labels_of(displays[i])
            probs[i] = {choice_of[label]: p for label, p in row["probs"].items()}
            rows[i] = row
    if lines:
        for i, res in zip(lines, scoring.final_line_probs(model, tokenizer, [displays[i] for i in lines], progress,
                                                          max_tokens=limit)):
            probs[i] = res["probs"]
            rows[i] = _line_row(displays[i], res)
    summary = measures.by_suite(displays, probs, sampled=False)
    for suite, m in summary.items():
        masses = [r["label_mass"] for r, d in zip(rows, displays) if d["suite"] == suite]
        m["mass"] = sum(masses) / len(masses)
    return rows, summary


def _line_row(display: dict, res: dict) -> dict:
    """A final-line display's per-prompt row, with the letter layout's legacy fields
    (prompt_type, p_long/neutrality/usefulness or p_influence) that reports read."""
    from .scoring import entropy_bits

    row = {"id": display["display_id"], "scenario_id": display.get("scenario_id"), "suite": display["suite"],
           "option_order": display.get("option_order"), "probs": res["probs"], "label_mass": res["mass"]}
    if measures.is_binary(display):
        p = res["probs"]["shift"]
        row.update(prompt_type=f"stochastic_{display['suite']}", p_influence=p, influence_most_likely=p > 0.5)
    else:
        opts = {o["label"]: o for o in display["options"]}
        p_long = sum(p for c, p in res["probs"].items() if opts[c]["length"] == "long")
        useful = sum(p for c, p in res["probs"].items() if opts[c]["quality"] == "best")
        row.update(prompt_type=records.POST_TYPE, p_long=p_long, neutrality=entropy_bits([p_long, 1 - p_long]),
                   usefulness=useful)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows to ``path`` atomically, so a partial file never has the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows))


def write_metrics(out: Path, settings: dict, results: dict) -> None:
    write_atomic(out / "metrics.json",
                 json.dumps({"settings": settings, "metrics": results, "complete": True}, indent=2, allow_nan=False))
