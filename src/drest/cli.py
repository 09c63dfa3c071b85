"""`drest`: train and measure shutdownable agents with the DReST reward.

A thin shell: argument parsing and printing only. Each area adds its own
subcommands through an ``add_commands(subparsers)`` function; heavy imports
(JAX training, PyTorch) happen inside the command handlers so ``drest --help``
stays fast and the ``llm`` extra stays optional.

Every expected failure ends as one ``drest: error: ...`` line on stderr and a
nonzero exit: bad input (``DrestError``, and argparse's usage errors, without the
usage block), the system refusing a file operation (``OSError``: disk full, no
permission), a file that is not UTF-8 text, Ctrl-C. Anything else is a bug in
drest and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import DrestError

# modules that contribute subcommands, in the order --help lists them
_COMMAND_MODULES = ("drest.worlds.cli", "drest.rl.cli", "drest.llm.cli", "drest.report.cli")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (subcommand parsers inherit the class)."""

    def error(self, message: str):
        self.exit(2, f"drest: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        return _fail(exc)
    except BrokenPipeError:
        # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # the system refused: disk full, permission, a vanished file
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", 1)
    except UnicodeDecodeError as exc:
        return _fail(f"an input file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                     "drest reads UTF-8 text files", 1)
    except KeyboardInterrupt:
        print("drest: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script: ``main``, leaving at once after an interrupt (``io.exit_now``)."""
    code = main()
    if code == 130:
        from .io import exit_now

        exit_now(code)
    sys.exit(code)


def _fail(message, code: int = 2) -> int:
    # one line whatever the message holds, so scripts can grep it
    text = " ".join(str(message).split())
    print(f"drest: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    entry()
