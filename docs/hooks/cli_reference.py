"""MkDocs hook: the command-line reference (docs/cli.md) generated from ``tinygmm.cli.build_parser()``.

docs/cli.md holds the text around the marker ``<!-- cli-reference -->``; this hook replaces the marker
with one section per subcommand (usage, then every option with its help text and default), read from
the argparse parser itself, so the page cannot drift from the CLI. The package is imported from this
checkout's ``scripts/`` (not from whatever tinygmm is installed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
USAGE_WIDTH = "100"  # argparse wraps usage at $COLUMNS: fixed, so the page is the same on every machine


def on_config(config: Any) -> Any:
    scripts = str(Path(config["config_file_path"]).resolve().parent / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its marker {MARKER}: the generated reference has nowhere to go")
    cli = importlib.import_module("tinygmm.cli")
    return markdown.replace(MARKER, render(cli.build_parser()))


def render(parser: argparse.ArgumentParser) -> str:
    """Markdown for every subcommand of ``parser``, in the order the parser lists them."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = USAGE_WIDTH
    try:
        out = [_options_table("Global options", _visible(parser._actions))]
        for name, help_text, sub in _subcommands(parser):
            out.append(f"## `tinygmm {name}`\n")
            if help_text:
                out.append(_sentence(help_text) + "\n")
            out.append("```text\n" + sub.format_usage().strip() + "\n```\n")
            for group in sub._action_groups:
                actions = _visible(group._group_actions)
                if actions:
                    out.append(_options_table(_title(group.title), actions, level="###"))
        return "\n".join(out)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _visible(actions: list[argparse.Action]) -> list[argparse.Action]:
    return [
        a
        for a in actions
        if a.help != argparse.SUPPRESS and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def _title(title: str | None) -> str:
    if title in (None, "options", "optional arguments"):
        return "Options"
    if title == "positional arguments":
        return "Arguments"
    return title[0].upper() + title[1:]


def _options_table(title: str, actions: list[argparse.Action], level: str = "##") -> str:
    if not actions:
        return ""
    rows = ["| option | default | description |", "| --- | --- | --- |"]
    for a in actions:
        default = _default(a)
        shown = default if default in ("", "required", "on", "off") else _cell(default)
        rows.append(f"| {_cell(_spelling(a))} | {shown or '–'} | {_escape(_help(a))} |")
    return f"{level} {_escape(title)}\n\n" + "\n".join(rows) + "\n"


def _spelling(a: argparse.Action) -> str:
    if not a.option_strings:  # positional
        name = a.metavar or a.dest
        return f"{name} ..." if a.nargs in ("*", "+", argparse.REMAINDER) else str(name)
    flags = ", ".join(a.option_strings)
    if a.nargs == 0:
        return flags
    metavar = a.metavar if a.metavar is not None else a.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if a.choices is not None and a.metavar is None:
        metavar = "{" + ",".join(map(str, a.choices)) + "}"
    return f"{flags} {metavar}"


def _default(a: argparse.Action) -> str:
    if isinstance(a, argparse._VersionAction):
        return ""
    if a.required:
        return "required"
    if a.nargs == 0:  # a switch
        return "off" if not a.default else "on"
    if a.default is None or a.default == argparse.SUPPRESS:
        return ""  # no value: the option is unset unless given
    return str(a.default)


def _help(a: argparse.Action) -> str:
    text = a.help or ""
    if "%" in text:  # argparse's own expansion: %(default)s, %(prog)s, ...
        params: dict[str, Any] = {k: v for k, v in vars(a).items() if v is not argparse.SUPPRESS}
        params["prog"] = "tinygmm"
        with contextlib.suppress(KeyError, TypeError, ValueError):
            text = text % params
    if isinstance(a, argparse._VersionAction):
        text = text or "print the version and exit"
    return _sentence(text) if text else ""


def _sentence(text: str) -> str:
    return " ".join(text.split())  # argparse's help as written (its case carries meaning: "none (default)")


def _cell(code: str) -> str:
    return f"`{code}`".replace("|", "\\|") if code else ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*").replace("_", "\\_")
