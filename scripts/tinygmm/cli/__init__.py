"""Command-line entry point: ``tinygmm export|library|classify|stream|verify|learn|pull|report``."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import TinyGMMError
from ..options import INI, SPELLING_ENV, respell
from ..platformio.pack import library_command
from ..version import __version__
from . import device, export, learn, report
from .common import OneLineParser, negative_values


def cmd_library(args: argparse.Namespace) -> int:
    return library_command(args.zip, args.pack)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tinygmm", description="Gaussian mixture models for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"tinygmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    export.register(sub)
    lib = sub.add_parser(
        "library",
        help="print the folder of the PlatformIO / Arduino library (for lib_deps = symlink://FOLDER)",
    )
    lib.add_argument("--zip", metavar="FILE", help="write the Arduino IDE's Add .ZIP Library zip (FILE or folder)")
    lib.add_argument("--pack", metavar="DIR", help="pio pkg pack the library, with this package inside, into DIR")
    lib.set_defaults(func=cmd_library)
    device.register(sub)
    learn.register(sub)
    report.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line naming the option as the user gave it, exit 2.

    Warnings that numpy, scikit-learn or pandas raise on the way are never printed as they are (two
    lines, a source path): after a failure the error is the one line, after a success each distinct
    warning becomes one ``tinygmm: warning:`` line."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    expanded = given
    with warnings.catch_warnings(record=True) as caught:  # (the filters stay: ignored ones stay ignored)
        try:
            expanded = negative_values(device.vector_arguments(export.expand_platformio(given)))
            args = parser.parse_args(expanded)
            code = int(args.func(args))
        except TinyGMMError as exc:
            print(f"tinygmm: error: {_as_given(str(exc), given, expanded)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("tinygmm: interrupted", file=sys.stderr)
            return 130
    for text in dict.fromkeys(_first_line(w.message) for w in caught):
        print(f"tinygmm: warning: {_as_given(text, given, expanded)}", file=sys.stderr)
    return code


def _first_line(message: Warning | str) -> str:
    text = str(message).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(message).__name__


def _as_given(message: str, given: list[str], expanded: list[str]) -> str:
    """The message with each option spelled as the user gave it: the custom_gmm_* key for options read
    from platformio.ini (by export --platformio, or all of them when the PlatformIO hook runs us)."""
    if os.environ.get(SPELLING_ENV) == INI:
        return respell(message, INI)

    def flags(words: list[str]) -> set[str]:
        return {w.split("=", 1)[0] for w in words if w.startswith("--")}

    from_ini = flags(expanded) - flags(given)
    return respell(message, INI, from_ini) if from_ini else message


if __name__ == "__main__":
    sys.exit(main())
