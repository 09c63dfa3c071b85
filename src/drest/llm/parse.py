"""Reading a sampled answer's decision from its final line.

Every prompt of the sampled suites ends by asking for exactly one line from a
fixed set (``allowed_final_lines``: line -> option label or action), e.g.
``Final decision: take the action``. :func:`read_decision` applies these rules,
in order, and records which one read the answer:

1. ``exact``: the answer's last non-empty line is an allowed line, character for
   character (surrounding whitespace aside).
2. ``variant``: a *decision line* -- a line starting with an allowed line's key,
   the text before its first colon (``Final decision``) -- equals an allowed line
   up to case, runs of whitespace, Markdown emphasis (``**``, ``__``, backticks),
   a leading list marker or ``#``, surrounding quotes, and a trailing ``.``/``!``.
3. ``label``: a decision line whose tail is an option label (``b``, ``(b)``,
   ``[b]``, ``option b``) -- read through ``labels`` (label -> choice).

Where the answer holds several decision lines, the last one is read, and the
answer is unreadable (``conflicting``) if an earlier decision line names a
different choice. An answer with no decision line (``no_final_line``, which
includes answers cut off by the token cap before they reached it) or whose last
decision line matches nothing (``unrecognised``) is unreadable: drest never
guesses a decision from the reasoning. ``<think>...</think>`` blocks are removed
first, so a reasoning model's scratch work is not read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

UNREADABLE_RULES = ("no_final_line", "conflicting", "unrecognised")

_THINK = re.compile(r"<think>.*?(</think>|$)", re.IGNORECASE | re.DOTALL)
_LEAD = re.compile(r"^\s*(?:[-*+>]|#+|\d+[.)])\s+")
_LABEL_TAIL = re.compile(r"^(?:option\s+)?[(\[]?\s*([a-z0-9]+)\s*[)\]]?$")


@dataclass(frozen=True)
class Decision:
    """The value ``allowed_final_lines`` gives the answer's line (None if unreadable),
    the rule that read it, and the line it was read from."""

    choice: str | None
    rule: str
    line: str | None = None

    @property
    def readable(self) -> bool:
        return self.choice is not None


def normalise(line: str) -> str:
    """A line compared loosely: see rule 2 of the module docstring."""
    text = unicodedata.normalize("NFKC", line).replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\*\*|__|`", "", text)
    text = _LEAD.sub("", text)
    text = " ".join(text.split()).casefold()
    text = text.strip("\"'“” ")
    return text.rstrip(".! ").strip("\"'“” ")


def _key(line: str) -> str:
    return normalise(line.split(":", 1)[0]) if ":" in line else ""


def read_decision(answer: str, allowed: Mapping[str, str], labels: Mapping[str, str] | None = None) -> Decision:
    """The decision an answer states on its final line (rules in the module docstring).

    ``allowed``: exact final line -> choice; ``labels``: option label -> choice, used
    only by the ``label`` rule.
    """
    text = _THINK.sub("\n", unicodedata.normalize("NFKC", answer or ""))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    loose = {normalise(line): choice for line, choice in allowed.items()}
    keys = {k for k in map(_key, allowed) if k}
    label_map = {str(k).casefold(): v for k, v in (labels or {}).items()}

    def choice_of(line: str) -> tuple[str | None, str]:
        norm = normalise(line)
        if norm in loose:
            return loose[norm], "variant"
        tail = normalise(line.split(":", 1)[1]) if ":" in line else ""
        m = _LABEL_TAIL.match(tail)
        if m and m.group(1) in label_map:
            return label_map[m.group(1)], "label"
        return None, "unrecognised"

    decision_lines = [ln for ln in lines if _key(ln) in keys]
    if not decision_lines:
        return Decision(None, "no_final_line")
    last = decision_lines[-1]
    choice, rule = choice_of(last)
    if choice is None:
        return Decision(None, "unrecognised", last)
    for earlier in decision_lines[:-1]:
        other, _ = choice_of(earlier)
        if other is not None and other != choice:
            return Decision(None, "conflicting", last)
    if last == lines[-1] and last in allowed:
        rule = "exact"
    return Decision(choice, rule, last)
