"""One self-contained HTML report (inline SVG, CSS and JS; opens offline) from run directories.

Sections, each present when its input is: the summary table (our NEUTRALITY and
USEFULNESS beside the paper's Table 1), learning curves (ours and the paper's on
the same axes), policy pictures in test worlds with a selector, and the
language-model results (P(long) histograms; P(influence shutdown) against the
expected-score gain from shifting), and ``drest llm study`` results (report/study.py).
"""

from __future__ import annotations

import html
import io
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..errors import DrestError
from ..io import atomic_open
from ..paper import PAPER_DEFAULT_NEUTRALITY, PAPER_INSTRUMENT, TABLE1, agent_name, paper_curves
from ..rl.rundir import RunDir, mean_sd
from ..worlds.draw import draw_lengths, draw_world
from .inputs import LLMRun, StudyRun, collect

SPLITS = ("test", "train")
METRICS = ("neutrality", "usefulness")
_COLOURS = {("ppo", "drest"): "#1f77b4", ("a2c", "drest"): "#2ca02c",
            ("ppo", "default"): "#d62728", ("a2c", "default"): "#9467bd"}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1300px;
     color:#1a1a1a;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.92em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}td.paper{color:#555;background:#fafafa}
.note{color:#555;font-size:.9em}.figure svg{max-width:100%;height:auto}
.selector{margin:.6em 0}.selector button,.selector select{font-size:1em;margin-right:.4em}
"""
# one selector per policy section: show the chosen world's figure, hide the others
_JS = """
document.querySelectorAll('.selector').forEach(function (sel) {
  var box = document.getElementById(sel.dataset.target);
  var figs = box.querySelectorAll('.world');
  var menu = sel.querySelector('select');
  function show(i) {
    i = (i + figs.length) % figs.length;
    figs.forEach(function (f, j) { f.hidden = j !== i; });
    menu.selectedIndex = i;
  }
  menu.addEventListener('change', function () { show(menu.selectedIndex); });
  sel.querySelector('.prev').addEventListener('click', function () { show(menu.selectedIndex - 1); });
  sel.querySelector('.next').addEventListener('click', function () { show(menu.selectedIndex + 1); });
  show(0);
});
document.body.dataset.ready = '1';
"""


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an inline <svg>: text kept as text (small), ids salted per figure so
    several SVGs on one page never share a clip-path id, no timestamp (stable output)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


# -- summary table ------------------------------------------------------------
def _paper_instrument(run: RunDir, split: str) -> list[dict]:
    """The run's final seeds scored with the paper's instrument on ``split``'s bank, where
    ``drest eval --instrument paper|both`` or ``drest reproduce table1`` scored them."""
    data = run.read_eval(run.config.test_bank if split == "test" else run.config.train_bank)
    return [r for r in data.get("seeds", []) if r.get("instrument") == "paper"] if data else []


def summary_rows(runs: list[RunDir]) -> list[dict]:
    """One row per run, plus one per agent type (algo x reward) that has several runs
    (seeds of all its runs pooled). Each row: ``label``, ``agent``, ``network`` (actor /
    critic hidden layers), ``env_steps`` (latest evaluation) and, per "split_metric" (exact
    instrument) and "paper_split_metric" (the paper's instrument), (mean, sd, n seeds) or None."""
    groups: dict[tuple[str, str], list[RunDir]] = {}
    for run in runs:
        groups.setdefault(run.agent, []).append(run)
    rows = []
    for agent, group in groups.items():
        members = [(run.name, [run]) for run in group]
        if len(group) > 1:
            members.append((f"all {len(group)} runs", group))
        for label, rs in members:
            row = {"label": label, "agent": agent, "env_steps": None,
                   "network": ", ".join(sorted({run.network for run in rs}))}
            for split in SPLITS:
                last = [r for run in rs for r in run.latest(split)]
                paper = [r for run in rs for r in _paper_instrument(run, split)]
                if last:
                    row["env_steps"] = max(row["env_steps"] or 0, max(r["env_steps"] for r in last))
                for metric in METRICS:
                    row[f"{split}_{metric}"] = (*mean_sd([r[metric] for r in last]), len(last)) if last else None
                    row[f"paper_{split}_{metric}"] = (*mean_sd([r[metric] for r in paper]), len(paper)) if paper \
                        else None
            rows.append(row)
    return rows


def _ours(cell) -> str:
    if cell is None:
        return "—"
    mean, sd, n = cell
    return f"{mean:.3f} ± {sd:.3f}" if n > 1 else f"{mean:.3f}"


def _paper(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        mean, sd = value
        return f"{mean:.3f}" if sd is None else f"{mean:.3f} ± {sd:.3f}"
    return f"{value:.3f}"


def paper_cells(agent: tuple[str, str]) -> dict[str, str]:
    """The paper's Table 1 numbers for an agent as table cells, keyed "split_metric"."""
    p = TABLE1.get(agent)
    if p is None:
        return {f"{s}_{m}": "—" for s in SPLITS for m in METRICS}
    return {"test_neutrality": _paper(p["test_n"]), "test_usefulness": _paper(p["test_u"]),
            "train_neutrality": _paper(p["train_n"]), "train_usefulness": _paper(p["train_u"])}


def summary_table(runs: list[RunDir]) -> str:
    rows = summary_rows(runs)
    # ours with the exact instrument, ours with the paper's (where scored), the paper's
    both = any(row[f"paper_{s}_{m}"] for row in rows for s in SPLITS for m in METRICS)
    cols = 3 if both else 2
    head1 = "".join(f'<th colspan="{cols}">{split} {metric.upper()}</th>' for split in SPLITS for metric in METRICS)
    head2 = ("<th>ours</th><th>ours, paper's instrument</th><th>paper</th>" if both
             else "<th>ours</th><th>paper</th>") * 4
    body = []
    for row in rows:
        paper = paper_cells(row["agent"])
        seeds = max((row[f"{s}_{m}"][2] for s in SPLITS for m in METRICS if row[f"{s}_{m}"]), default=0)
        steps = "—" if row["env_steps"] is None else f"{row['env_steps']:,}"
        cells = "".join(f"<td>{_ours(row[f'{s}_{m}'])}</td>"
                        + (f"<td>{_ours(row[f'paper_{s}_{m}'])}</td>" if both else "")
                        + f"<td class=\"paper\">{paper[f'{s}_{m}']}</td>" for s in SPLITS for m in METRICS)
        body.append(f"<tr><td class=\"l\">{agent_name(*row['agent'])}</td><td class=\"l\">{html.escape(row['label'])}"
                    f"</td><td class=\"l\">{row['network']}</td><td>{steps}</td><td>{seeds}</td>{cells}</tr>")
    return (f'<table id="summary-table"><thead><tr><th class="l" rowspan="2">agent</th><th class="l" rowspan="2">run'
            f'</th><th class="l" rowspan="2">network (actor / critic)</th><th rowspan="2">env steps</th>'
            f'<th rowspan="2">seeds</th>{head1}</tr><tr>{head2}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


# -- learning curves ----------------------------------------------------------
def learning_curves(records: list[dict], split: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, mean over seeds, sd over seeds) of one metric on one split."""
    steps = sorted({r["env_steps"] for r in records if r["split"] == split})
    stats = [mean_sd([r[metric] for r in records if r["split"] == split and r["env_steps"] == s]) for s in steps]
    return np.array(steps), np.array([m for m, _ in stats]), np.array([sd for _, sd in stats])


def curves_figure(runs: list[RunDir]) -> Figure:
    fig = Figure(figsize=(12, 7.5))
    axes = fig.subplots(2, 2, sharex=True)
    curves = paper_curves()
    for i, metric in enumerate(METRICS):
        for j, split in enumerate(SPLITS):
            ax = axes[i, j]
            for agent in dict.fromkeys(run.agent for run in runs):
                c = curves.get((*agent, split, metric))
                if c is not None:
                    colour = _COLOURS.get(agent, "#555555")
                    ax.plot(c.env_steps, c.mean, "--", color=colour, linewidth=1.2,
                            label=f"paper {agent_name(*agent)} (mean ± sd, {c.runs} runs)")
                    ax.fill_between(c.env_steps, c.mean - c.sd, c.mean + c.sd, color=colour, alpha=0.12, linewidth=0)
            for run in runs:
                steps, mean, sd = learning_curves(run.records, split, metric)
                keep = steps > 0  # log axis: the evaluation before training is in the table's data only
                if keep.any():
                    colour = _COLOURS.get(run.agent, "#555555")
                    ax.plot(steps[keep], mean[keep], "o-", color=colour, markersize=3, linewidth=1.6,
                            label=f"ours {run.name} ({agent_name(*run.agent)}, mean ± sd)")
                    ax.fill_between(steps[keep], (mean - sd)[keep], (mean + sd)[keep], color=colour, alpha=0.25,
                                    linewidth=0)
            ax.set_xscale("log")
            ax.set_title(f"{split} bank: {metric.upper()}", fontsize=11)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("environment steps per seed")
            if metric == "usefulness":
                ax.set_ylim(0, 1.02)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat:  # a metric can be missing from one panel (the paper's default NEUTRALITY)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False, bbox_to_anchor=(0.5, -0.06))
    return fig


# -- policy pictures ----------------------------------------------------------
def world_figure(world, policy, result=None) -> Figure:
    """Three panels: the policy before the button press, after it, and P(L) with E[coins | L]."""
    from .visitation import visitation

    vis = visitation(world, policy)
    result = result if result is not None else vis.result
    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
    draw_world(world, axes[0], vis, pressed=False)
    axes[0].set_title("before the button is pressed", fontsize=10)
    draw_world(world, axes[1], vis, pressed=True)
    axes[1].set_title(f"after it is pressed (P(press) = {vis.press_prob:.3f})", fontsize=10)
    draw_lengths(axes[2], result)
    axes[2].set_title(f"NEUTRALITY {result.neutrality:.3f}   USEFULNESS {result.usefulness:.3f}", fontsize=10)
    return fig


def parse_worlds(spec: str, n: int) -> list[int]:
    """``all``, or indices and ranges like ``0-9`` / ``0,5,17`` -> sorted indices in 0..n-1."""
    if spec.strip() == "all":
        return list(range(n))
    out = set()
    for part in spec.split(","):
        lo, sep, hi = part.strip().partition("-")
        # digits only: int() would also take '+1', '1_0' and non-ASCII digits
        if not all(x.isascii() and x.isdigit() for x in ((lo, hi) if sep else (lo,))):
            raise DrestError(f"--worlds: expected 'all' or indices like 0-9 or 0,5,17, got {spec!r}")
        if sep and int(lo) > int(hi):
            raise DrestError(f"--worlds: the range {part.strip()} runs backwards; write {hi}-{lo}")
        out.update(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    bad = sorted(i for i in out if not 0 <= i < n)
    if bad:
        raise DrestError(f"--worlds: index {bad[0]} is out of range; the test bank has {n} worlds (0..{n - 1})")
    return sorted(out)


def policy_section(run: RunDir, k: int, worlds_spec: str) -> str:
    from ..metrics import evaluate_bank
    from ..worlds import load_bank

    title = f"<h3>{html.escape(run.name)} ({agent_name(*run.agent)})</h3>"
    if not run.has_checkpoint:
        return f'{title}<p class="note">No checkpoint yet: no policy to draw.</p>'
    policy, steps = run.policy(0)
    bank = load_bank(run.config.test_bank)
    indices = parse_worlds(worlds_spec, len(bank))
    results = evaluate_bank([bank[i] for i in indices], policy).per_world
    figs, options = [], []
    for i, res in zip(indices, results):
        svg = _svg(world_figure(bank[i], policy, res), f"policy{k}w{i}")
        figs.append(f'<div class="world figure" id="policy-{k}-world-{i}" data-world="{i}">{svg}</div>')
        press = res.p_length[res.lengths > bank[i].shutdown_time].sum()
        options.append(f'<option value="{i}">world {i}: P(press) {press:.2f}, U {res.usefulness:.2f}</option>')
    return (f'{title}<p class="note">Seed {run.config.seed} at {steps:,} env steps, test bank '
            f'<code>{html.escape(str(run.config.test_bank))}</code>. Cells are shaded by the expected number of '
            f'steps taken from them; arrows show the action probabilities at each cell visited at least '
            f'0.05 times on average (arrows of probability under 0.05 omitted).</p>'
            f'<div class="selector" data-target="policy-{k}"><button class="prev" type="button">&larr; previous'
            f'</button><select aria-label="world">{"".join(options)}</select><button class="next" type="button">'
            f'next &rarr;</button></div><div id="policy-{k}" class="worlds">{"".join(figs)}</div>')


# -- language models ----------------------------------------------------------
def _llm_conditions(runs: list[LLMRun]) -> list[tuple[str, LLMRun, dict[str, list[dict]]]]:
    prefix = len(runs) > 1
    return [(f"{run.path.name}: {label}" if prefix else label, run, sets)
            for run in runs for label, sets in run.conditions.items()]


def llm_table(conditions) -> str:
    from ..llm.scoring import summarize

    head = ("<tr><th class=\"l\">condition</th><th class=\"l\">set</th><th>prompts</th><th>NEUTRALITY</th>"
            "<th>USEFULNESS</th><th>P(long)</th><th>mean P(influence)</th><th>share influence most likely</th>"
            "<th>label mass</th></tr>")
    body = []
    for label, _, sets in conditions:
        for name, rows in sets.items():
            for s in summarize(rows).values():
                vals = [s.get(k) for k in ("neutrality", "usefulness", "p_long", "mean_p_influence",
                                           "share_influence_most_likely", "label_mass")]
                cells = "".join("<td>—</td>" if v is None else f"<td>{v:.3f}</td>" for v in vals)
                body.append(f"<tr><td class=\"l\">{html.escape(label)}</td><td class=\"l\">{html.escape(name)}</td>"
                            f"<td>{s['n']}</td>{cells}</tr>")
    return f'<table id="llm-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def plong_figure(conditions) -> Figure | None:
    from ..llm.datasets import POST_TYPE

    data = [(label, [r["p_long"] for rows in sets.values() for r in rows if r["prompt_type"] == POST_TYPE])
            for label, _, sets in conditions]
    data = [(label, v) for label, v in data if v]
    if not data:
        return None
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    for label, values in data:
        ax.hist(values, bins=np.linspace(0, 1, 21), histtype="step", linewidth=1.8, label=f"{label} (n={len(values)})")
    ax.axvline(0.5, color="#555555", linestyle="--", linewidth=0.8)
    ax.set_xlabel("P(long) on a POST test prompt (0.5: POST ideal)")
    ax.set_ylabel("prompts")
    ax.legend(fontsize=9, frameon=False)
    return fig


def influence_figure(conditions) -> tuple[Figure | None, list[str]]:
    """P(influence) against the expected-score gain of shifting, one panel per Neutrality set;
    the gain comes from the generated dataset record of the same id."""
    from ..llm import datasets

    notes = []
    panels: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for label, run, sets in conditions:
        for name, rows in sets.items():
            rows = [r for r in rows if "p_influence" in r]
            if not rows:
                continue
            if name not in datasets.DATASETS:
                notes.append(f"{label}: {name} is not a named dataset, so its expected-score gains are unknown")
                continue
            gain = {rec["id"]: rec["expected_score_gain_from_shift"] for rec in datasets.load(name, run.seed)}
            panels.setdefault(name, []).append((label, np.array([gain[r["id"]] for r in rows]),
                                                np.array([r["p_influence"] for r in rows])))
    if not panels:
        return None, notes
    fig = Figure(figsize=(4.2 * len(panels), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (name, series) in zip(axes, panels.items()):
        for k, (label, x, y) in enumerate(series):
            colour = f"C{k}"
            ax.scatter(x, y, s=12, alpha=0.55, color=colour, label=f"{label} (mean {y.mean():.3f})", linewidth=0)
            ax.axhline(y.mean(), color=colour, linewidth=1)
        ax.axhline(0.5, color="#555555", linestyle=":", linewidth=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("expected-score gain from shifting")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    axes[0].set_ylabel("P(influence shutdown)")
    return fig, notes


def llm_section(runs: list[LLMRun]) -> str:
    conditions = _llm_conditions(runs)
    parts = ['<section id="llm"><h2>Language models</h2>',
             '<p class="note">Sources: ' + ", ".join(f"<code>{html.escape(str(r.path))}</code>" for r in runs) +
             ". Means over prompts; a POST agent has NEUTRALITY 1 and P(long) 0.5 on every prompt, a Neutral one "
             "P(influence) 0 on the Neutrality test.</p>", llm_table(conditions)]
    fig = plong_figure(conditions)
    if fig is not None:
        parts.append(f'<h3>P(long) over POST test prompts</h3><div class="figure" id="llm-plong">'
                     f'{_svg(fig, "llmplong")}</div>')
    fig, notes = influence_figure(conditions)
    if fig is not None:
        parts.append('<h3>Probability of influencing shutdown against the expected-score gain from shifting</h3>'
                     '<p class="note">One point per prompt; lines are the means.</p>'
                     f'<div class="figure" id="llm-influence">{_svg(fig, "llminfluence")}</div>')
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    return "".join(parts) + "</section>"


# -- the page -----------------------------------------------------------------
def render(rl: list[RunDir], llm: list[LLMRun], worlds: str = "0-9", title: str = "drest report") -> str:
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="note">Made by <code>drest report</code> on '
            f'{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from '
            + ", ".join(f"<code>{html.escape(str(r.path))}</code>" for r in [*rl, *llm]) + ".</p>"]
    sweeps = [r for r in rl if (r.path / "sweep.json").exists()]
    rl = [r for r in rl if r not in sweeps]
    if sweeps:
        body.append(sweep_section(sweeps))
    if rl:
        body += ['<section id="summary"><h2>NEUTRALITY and USEFULNESS</h2>',
                 '<p class="note">Ours: mean ± sd (sample sd, ddof 1) over seeds at each run\'s latest evaluation. '
                 'Paper: Table 1 of Cullen et al. (2026), 100M env steps, 5 seeds (population sd, as the paper '
                 'computes it); train values are published without sd. NEUTRALITY in bits (at most 1 with one '
                 'button).' + (f' {PAPER_DEFAULT_NEUTRALITY}' if any(r.agent[1] == 'default' for r in rl) else '')
                 + f' {PAPER_INSTRUMENT} The paper\'s-instrument columns are the final checkpoints re-scored '
                 '(<code>drest eval RUN --instrument both</code>; <code>drest reproduce table1</code> does it); '
                 'they are empty where a run was not re-scored.</p>', summary_table(rl), "</section>",
                 '<section id="curves"><h2>Learning curves</h2>',
                 '<p class="note">Solid: ours, mean ± sd over seeds. Dashed: the paper\'s logged curves, mean ± sd '
                 'over its runs. Log step axis (our evaluation before training is not drawn).</p>',
                 f'<div class="figure" id="learning-curves">{_svg(curves_figure(rl), "curves")}</div></section>',
                 '<section id="policies"><h2>Policies in test worlds</h2>']
        body += [policy_section(run, k, worlds) for k, run in enumerate(rl)]
        body.append("</section>")
    studies = [r for r in llm if isinstance(r, StudyRun)]
    llm = [r for r in llm if not isinstance(r, StudyRun)]
    if llm:
        body.append(llm_section(llm))
    if studies:
        from .study import study_section

        body.append(study_section(studies, _svg))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f'<body>{"".join(body)}<script>{_JS}</script></body></html>\n')


def sweep_section(sweeps: list[RunDir]) -> str:
    """``drest sweep`` runs: validation-bank NEUTRALITY/USEFULNESS over (lambda, M) beside the paper's sweep."""
    from ..rl.sweep import final_table, heatmap_figure

    parts = ['<section id="sweep"><h2>DReST lambda x M sweep</h2>',
             '<p class="note">Left: the paper\'s sweep (release logs: PPO, 3 x 256 networks, lr 1e-6, 20M steps, '
             'one run per point; its "test" is the 96-world validation bank). Right: ours at each run\'s latest '
             'evaluation, mean over seeds, on the bank named in its config. Empty cells: points not run.</p>']
    for k, run in enumerate(sweeps):
        rows = final_table(run.path)
        if rows and all("lam" in r and "meta_episode_size" in r for r in rows):
            parts.append(f'<h3>{html.escape(str(run.path))} ({run.config.test_bank}, '
                         f'{rows[0]["env_steps"]:,} steps)</h3>'
                         f'<div class="figure">{_svg(heatmap_figure(rows), f"sweep{k}")}</div>')
    parts.append("</section>")
    return "".join(parts)


def build_report(paths, out, worlds: str = "0-9", title: str = "drest report") -> Path:
    """Write the report of the runs in ``paths`` to ``out`` (atomically: a temporary file
    beside it, moved into place, so a failure leaves no half-written report)."""
    out = Path(out)
    rl, llm = collect(paths)
    if out.is_dir():
        raise DrestError(f"--out: {str(out)!r} is a directory; give a file name such as report.html")
    # the temporary file is made first: an unwritable --out fails before the (minutes-long) drawing
    with atomic_open(out, "w", label="--out") as f:
        f.write(render(rl, llm, worlds, title))
    return out
