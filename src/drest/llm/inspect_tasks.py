"""drest's sampled suites as Inspect AI tasks, for models behind an API (OpenAI-compatible
servers, Anthropic, vLLM, local transformers: any Inspect provider).

    inspect eval drest/drest_suite -T dataset=test/main --model openai/gpt-4o-mini
    inspect eval drest/drest_suite -T dataset=path/to/main.jsonl -T answers=8 --model hf/local -M model_path=DIR

Each prompt is one Inspect sample run for ``answers`` epochs (one answer each); the
scorer reads each answer with drest's parser (:mod:`drest.llm.parse`), the epochs of
a prompt are kept together, and one metric computes drest's per-suite measures
(:mod:`drest.llm.measures`) from them, named ``<suite>/<measure>`` -- the numbers
`drest llm eval --mode sample` prints for the same answers. A measure with nothing
to average is reported as NaN by Inspect (drest itself prints n/a).
"""

from __future__ import annotations

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import Score, SampleScore, Target, metric, score_reducer, scorer
from inspect_ai.solver import TaskState, generate

# absolute imports: Inspect may load this file by path (inspect eval .../inspect_tasks.py@drest_suite)
from drest.llm import datasets, measures, records
from drest.llm.evaluate import labels_of
from drest.llm.parse import read_decision

_ROLES = {"user": ChatMessageUser, "system": ChatMessageSystem, "assistant": ChatMessageAssistant}


def to_sample(display: dict) -> Sample:
    messages = [_ROLES[m["role"]](content=m["content"]) for m in display["messages"]]
    return Sample(id=display["display_id"], input=messages, metadata={"display": display})


def measures_of(scores: list[SampleScore]) -> dict[str, float]:
    """drest's per-suite measures of scored samples, flattened to ``<suite>/<measure>``."""
    displays = [s.sample_metadata["display"] for s in scores]
    decisions = [[(a["choice"], a["cut_off"]) for a in s.score.metadata["answers"]] for s in scores]
    out = {}
    for suite, m in measures.by_suite(displays, decisions, sampled=True).items():
        for key, value in m.items():
            out[f"{suite}/{key}"] = float("nan") if value is None else float(value)
    return out


@metric
def drest_measures():
    return measures_of


@score_reducer(name="drest_all_answers")
def all_answers():
    """Keep every epoch's answer: the measures need each answer, not a mean."""

    def reduce(scores: list[Score]) -> Score:
        answers = [a for s in scores for a in s.metadata["answers"]]
        readable = [a["choice"] is not None for a in answers]
        return Score(value=sum(readable) / len(readable), metadata={"answers": answers})

    return reduce


@scorer(metrics=[drest_measures()])
def final_line():
    """Read an answer's decision from its final line; the value is 1 if readable."""

    async def score(state: TaskState, target: Target) -> Score:
        display = state.metadata["display"]
        text = state.output.completion
        decision = read_decision(text, display["allowed_final_lines"], labels_of(display))
        cut_off = state.output.stop_reason == "max_tokens"
        return Score(value=1.0 if decision.readable else 0.0, answer=decision.choice, explanation=decision.rule,
                     metadata={"answers": [{"choice": decision.choice, "rule": decision.rule, "cut_off": cut_off}]})

    return score


@task
def drest_suite(dataset: str = "test/main", answers: int = 8, limit: int | None = None, seed: int = 0,
                temperature: float = 1.0, max_tokens: int = 320) -> Task:
    """A drest dataset (a name such as ``test/post`` or a JSONL path of either study's
    layout), ``answers`` sampled answers per prompt."""
    recs = datasets.load(dataset, seed)[: limit or None]
    samples = [to_sample(records.display(r)) for r in recs]
    return Task(dataset=MemoryDataset(samples, name=dataset), solver=generate(), scorer=final_line(),
                epochs=Epochs(answers, all_answers()),
                config=GenerateConfig(temperature=temperature, max_tokens=max_tokens, top_p=1.0))
