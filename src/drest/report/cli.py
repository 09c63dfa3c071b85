"""`drest report RUN_DIR ... --out report.html`: argument parsing and printing only."""

from __future__ import annotations


def add_commands(sub) -> None:
    p = sub.add_parser(
        "report", help="one self-contained HTML report of training runs and language-model results",
        description="Write one self-contained HTML file (inline SVG, no network needed): NEUTRALITY and "
                    "USEFULNESS beside the paper's Table 1, learning curves beside the paper's, the final policy "
                    "drawn in test worlds, and language-model P(long) and P(influence) plots.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a run directory (drest train), a directory of runs (drest reproduce table1 --out), or a "
                        "drest llm eval/demo --out directory")
    p.add_argument("--out", default="report.html", help="output HTML file (default report.html)")
    p.add_argument("--worlds", default="0-9",
                   help="test-bank worlds to draw each policy in: 'all' or indices like 0-9, 0,5,17 (default 0-9)")
    p.add_argument("--title", default="drest report", help="page title")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from .build import build_report, parse_worlds

    parse_worlds(args.worlds, 10**9)  # the syntax, before any work (the range is checked against the bank later)
    out = build_report(args.runs, args.out, worlds=args.worlds, title=args.title)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
