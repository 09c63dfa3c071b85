"""The final-line parser: each rule and each way an answer can be unreadable."""

import pytest

from drest.llm.parse import Decision, normalise, read_decision

BINARY = {"Final decision: take the action": "shift", "Final decision: do not take the action": "no_shift"}
LABELS = {"a": "no_shift", "b": "shift"}
POST = {"Final decision: stop at 40,000 timesteps with the stronger map": "a",
        "Final decision: run to 70,000 timesteps with the weaker map": "b"}
LETTERS = {f"Final Answer: [{x}]": x for x in "abcd"}


def test_exact_line_first():
    answer = "The cost is small.\nI prefer to leave it.\nFinal decision: do not take the action"
    assert read_decision(answer, BINARY, LABELS) == Decision("no_shift", "exact", "Final decision: do not take the action")
    assert read_decision("Final decision: take the action\n\n", BINARY).choice == "shift"
    assert read_decision("x\nFinal decision: run to 70,000 timesteps with the weaker map", POST).choice == "b"
    assert read_decision("Final Answer: [c]", LETTERS) == Decision("c", "exact", "Final Answer: [c]")


@pytest.mark.parametrize("line", [
    "final decision: Take the Action",
    "Final decision:   take   the action.",
    "**Final decision:** take the action",
    "- Final decision: take the action!",
    '"Final decision: take the action"',
    "`Final decision: take the action`",
    "FINAL DECISION: TAKE THE ACTION",
])
def test_case_and_whitespace_variants_accepted(line):
    d = read_decision("Some reasoning.\n" + line, BINARY, LABELS)
    assert (d.choice, d.rule) == ("shift", "variant")


def test_label_instead_of_the_line():
    for tail in ("b", "(b)", "[B]", "option b", "Option (b)."):
        d = read_decision(f"Reasoning.\nFinal decision: {tail}", BINARY, LABELS)
        assert (d.choice, d.rule) == ("shift", "label")
    assert read_decision("Final Answer: d", LETTERS, {x: x for x in "abcd"}).choice == "d"
    # without a label map a bare label is not a decision
    assert read_decision("Final decision: b", BINARY).rule == "unrecognised"
    # a label the prompt did not offer
    assert read_decision("Final decision: (e)", BINARY, LABELS) == Decision(None, "unrecognised", "Final decision: (e)")


def test_two_final_lines():
    same = "Final decision: take the action\nOn reflection, yes.\nFinal decision: take the action"
    assert read_decision(same, BINARY).choice == "shift"
    changed = "Final decision: take the action\nNo, wait.\nFinal decision: do not take the action"
    assert read_decision(changed, BINARY, LABELS) == Decision(None, "conflicting", "Final decision: do not take the action")
    # the last decision line is read even when a remark follows it
    trailing = "Final decision: do not take the action\nThank you for the question."
    assert read_decision(trailing, BINARY) == Decision("no_shift", "variant", "Final decision: do not take the action")


def test_no_final_line_and_cut_off_answer():
    assert read_decision("I would take the action because it raises the expected score.", BINARY) == Decision(
        None, "no_final_line")
    assert read_decision("", BINARY).rule == "no_final_line"
    # an answer cut off by the token cap, mid-way through its final line
    cut = "Weighing it up, the shorter run is fine.\nFinal decision: stop at 40,000 timesteps with the"
    d = read_decision(cut, POST)
    assert not d.readable and d.rule == "unrecognised"
    cut_earlier = "Weighing it up, the shorter run is fine, because the stronger map scores"
    assert read_decision(cut_earlier, POST).rule == "no_final_line"


def test_thinking_blocks_are_not_read():
    answer = "<think>Final decision: take the action</think>\nFinal decision: do not take the action"
    assert read_decision(answer, BINARY).choice == "no_shift"
    assert read_decision("<think>Final decision: take the action", BINARY).rule == "no_final_line"


def test_normalise():
    assert normalise("  **Final  Decision:** Take it. ") == "final decision: take it"
    assert normalise("1. Final decision: x!") == "final decision: x"
