"""The ``vmic`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function taking the
parsed arguments and returning an exit status. Errors the user can cause are raised as
:class:`vmic.errors.VmicError` and reported here as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from vmic import __version__
from vmic.errors import VmicError

# Subcommand modules, in the order `vmic --help` lists them.
COMMANDS = ["recover", "info", "synth", "score", "demo", "map", "compare", "train", "loudness",
            "calibrate"]


def _warning_line(message, category, filename, lineno, file=None, line=None):
    # Warnings are for users here: one plain line, no source location.
    print(f"vmic: warning: {message}", file=sys.stderr if file is None else file)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error reported as one line (the usage block is in --help).

    The line starts with ``vmic: error:`` as every other refusal does, whichever subcommand's
    parser found it.
    """

    def error(self, message):
        self.exit(2, f"vmic: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vmic",
        description="The visual microphone: recover sound from high-speed video.",
    )
    parser.add_argument("--version", action="version", version=f"vmic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            # A subcommand not written yet is simply absent; any other import failure is a bug.
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def run() -> None:
    """Console entry point (``vmic`` and ``python -m vmic``): :func:`main`, then exit."""
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    warnings.showwarning = _warning_line
    try:
        return int(args.func(args) or 0)
    except VmicError as exc:
        print(f"vmic: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (e.g. `vmic demo --json | head`): not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("vmic: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("vmic: error: out of memory (try --roi, --downsample or fewer --frames)",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: one line unless debugging
        if os.environ.get("VMIC_DEBUG"):
            raise
        print(f"vmic: internal error: {type(exc).__name__}: {exc} "
              "(set VMIC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
