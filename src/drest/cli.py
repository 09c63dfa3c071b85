"""`drest`: train and measure shutdownable agents with the DReST reward.

A thin shell: argument parsing and printing only. Each area adds its own
subcommands through an ``add_commands(subparsers)`` function; heavy imports
(JAX training, PyTorch) happen inside the command handlers so ``drest --help``
stays fast and the ``llm`` extra stays optional.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import DrestError

# modules that contribute subcommands, in the order --help lists them
_COMMAND_MODULES = ("drest.worlds.cli", "drest.rl.cli", "drest.llm.cli", "drest.report.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drest",
        description=(
            "Train and measure shutdownable agents with the DReST reward.\n"
            "Gridworlds, exact NEUTRALITY/USEFULNESS, JAX PPO/A2C, and language-model scoring and fine-tuning."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # an area not installed in this checkout; a missing dependency inside it is a real error
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except DrestError as exc:
        print(f"drest: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("drest: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
