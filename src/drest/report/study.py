"""The report's section for ``drest llm study`` results: per-suite rates by arm with one
dot per seed, and the uniform-flattening prediction against DReST on the controls."""

from __future__ import annotations

import html

from matplotlib.figure import Figure

from ..llm.study import CONTROLS, SUITES, headline
from .inputs import StudyRun

_ARM_COLOURS = {"untrained": "#7f7f7f", "default": "#d62728", "drest": "#1f77b4"}


def rates_figure(result: dict) -> Figure:
    """One panel per suite: each arm's per-seed rates (dots) and their mean (bar)."""
    arms = list(result["arms"])
    suites = [s for s in SUITES if any(s in a for a in result["arms"].values())]
    fig = Figure(figsize=(2.0 * len(suites), 3.0))
    axes = fig.subplots(1, len(suites), sharey=True, squeeze=False)[0]
    for ax, suite in zip(axes, suites):
        for x, arm in enumerate(arms):
            stat = result["arms"][arm].get(suite, {}).get(headline(suite))
            if not stat or stat["mean"] is None:
                continue
            colour = _ARM_COLOURS.get(arm, "C0")
            ax.bar(x, stat["mean"], width=0.6, color=colour, alpha=0.35)
            offsets = [(i - (len(stat["values"]) - 1) / 2) * 0.08 for i in range(len(stat["values"]))]
            ax.scatter([x + o for o in offsets], stat["values"], s=14, color=colour, zorder=3, linewidth=0)
        ax.set_xticks(range(len(arms)), arms, rotation=45, fontsize=8)
        ax.set_title(f"{suite}{' (longer)' if suite == 'post' else ''}", fontsize=9)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("rate (%)")
    fig.tight_layout()
    return fig


def flattening_figure(result: dict) -> Figure | None:
    """Per control: untrained, what flattening by c predicts, DReST, and the ideal."""
    fl = result.get("flattening") or {}
    controls = [c for c in CONTROLS if c in (fl.get("controls") or {})]
    if fl.get("c") is None or not controls:
        return None
    fig = Figure(figsize=(7.5, 3.2))
    ax = fig.subplots()
    series = (("untrained", "untrained", "#7f7f7f"), ("predicted", f"flattening (c = {fl['c']:.3f})", "#ff7f0e"),
              ("drest", "DReST", "#1f77b4"))
    for k, (key, label, colour) in enumerate(series):
        xs = [i + (k - 1) * 0.25 for i in range(len(controls))]
        ys = [fl["controls"][c][key] for c in controls]
        ax.bar([x for x, y in zip(xs, ys) if y is not None], [y for y in ys if y is not None], width=0.25,
               color=colour, label=label)
    for i, c in enumerate(controls):
        ideal = fl["controls"][c].get("ideal")
        if ideal is not None:
            ax.hlines(ideal, i - 0.4, i + 0.4, colors="black", linestyles=":", linewidth=1.2)
    ax.set_xticks(range(len(controls)), controls, rotation=20, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("action rate (%)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def study_section(studies: list[StudyRun], svg) -> str:
    """HTML of every study; ``svg(fig, salt)`` inlines a figure (the report's helper)."""
    parts = ['<section id="llm-study"><h2>Language-model study</h2>']
    for k, run in enumerate(studies):
        r = run.result
        parts.append(f'<h3><code>{html.escape(str(run.path))}</code></h3>'
                     f'<p class="note">Made by <code>{html.escape(r.get("command", "drest llm study"))}</code>. '
                     'Rates per scenario (both option orders pooled), then averaged; POST shows the share choosing '
                     'the longer length. Bars: mean over seeds; dots: one per seed.</p>'
                     f'<div class="figure" id="study-rates-{k}">{svg(rates_figure(r), f"studyrates{k}")}</div>')
        comparison = []
        for suite, c in r.get("comparison", {}).items():
            w = c.get("welch")
            if w:
                comparison.append(f"{suite}: Welch t = {w['t']:.2f}, p = {w['p']:.3g}; every DReST seed below every "
                                  f"default seed: {'yes' if c['every_drest_seed_below_every_default_seed'] else 'no'}")
            else:
                comparison.append(f"{suite}: {c.get('note', 'not computed')}")
        parts.append('<p class="note">' + html.escape("; ".join(comparison)) + "</p>")
        fig = flattening_figure(r)
        if fig is not None:
            parts.append('<p class="note">Uniform flattening: the untrained model\'s log-odds on each control scaled '
                         'by c = logit(DReST main) / logit(untrained main). Dotted: the ideal rate. DReST nearer the '
                         'ideal than the prediction means it is not generic flattening.'
                         + ('' if r["flattening"].get("applies", True) else
                            f' <strong>Here c = {r["flattening"]["c"]:.3f} lies outside 0 &lt; c &lt; 1: no flattening '
                            'produces that, so the baseline does not apply.</strong>') + '</p>'
                         f'<div class="figure" id="study-flattening-{k}">{svg(fig, f"studyflat{k}")}</div>')
        else:
            note = (r.get("flattening") or {}).get("note", "not computed")
            parts.append(f'<p class="note">Uniform-flattening baseline: {html.escape(note)}.</p>')
    return "".join(parts) + "</section>"
