"""Command-line entry point: ``tinygmm export|library|classify|stream|verify|learn|pull|report``."""

from __future__ import annotations

import argparse
import sys

from ..errors import TinyGMMError
from ..platformio.pack import library_command
from ..version import __version__
from . import device, export, learn, report
from .common import OneLineParser


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
    parser = build_parser()
    try:
        args = parser.parse_args(export.expand_platformio(list(sys.argv[1:] if argv is None else argv)))
        return int(args.func(args))
    except TinyGMMError as exc:
        print(f"tinygmm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinygmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
