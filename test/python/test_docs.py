"""The documentation: the site builds with ``mkdocs build --strict``, and every code block that shows output
(README.md and docs/*.md) prints what the page shows.

Conventions (docs/contributing.md, "Code blocks that show output"):
- ```console blocks: ``$ `` lines are commands (a trailing ``\\`` continues them), the lines up to the
  next ``$ `` their output, stdout and stderr together;
- ```pycon blocks: doctest sessions;
- ``...`` matches any lines (alone on a line) or any text (inside a line);
- ``title="not run: REASON"`` in the info string skips a block, showing the reason on the page;
- each page runs in its own scratch copy of the repository, blocks in page order.
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinygmm.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("console", "pycon")
SKIP_TITLE = "not run:"
COMMAND_TIMEOUT = 120  # seconds; the whole file stays well under a minute on a quiet machine
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    info: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def title(self) -> str:
        m = re.search(r'title="([^"]*)"', self.info)
        return m.group(1) if m else ""


def code_blocks(page: Path) -> list[Block]:
    """Fenced code blocks of a Markdown page (``` or ~~~, indented or not)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group("indent")), m.group("fence"), m.group("info").strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        language = info.lstrip("{ .").split()[0].rstrip("}") if info else ""
        blocks.append(Block(page, i + 1, language, info, "\n".join(body)))
        i = j + 1
    return blocks


def runnable(page: Path) -> list[Block]:
    return [b for b in code_blocks(page) if b.language in RUN_LANGUAGES and not b.title.startswith(SKIP_TITLE)]


# ---- console sessions ----------------------------------------------------------------------------------------


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each ``$ `` command of a console block."""
    steps: list[tuple[str, list[str]]] = []
    lines = block.text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if line.strip():
                raise AssertionError(f"{block.where}: output before the first '$ ' command: {line!r}")
            i += 1
            continue
        command = line[2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        steps.append((command, output))
    return steps


def output_pattern(expected: list[str]) -> re.Pattern[str]:
    """``...`` alone: any lines (or none); inside a line: any text on that line; the rest literally."""
    parts: list[str] = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def normalise(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def output_matches(expected: list[str], actual: str) -> bool:
    want = normalise(expected)
    got = normalise(actual.split("\n"))
    text = "".join(line + "\n" for line in got)
    return output_pattern(want).fullmatch(text) is not None


# ---- the scratch repository ------------------------------------------------------------------------------------


def scratch_copy(dest: Path) -> Path:
    """The repository's tracked (and new, not ignored) files as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.decode(errors='replace').strip()}): no files to copy")
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        src = ROOT / name
        if src.is_file():  # deleted but still tracked files are skipped
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def shell_env(repo: Path, bin_dir: Path) -> dict[str, str]:
    """`tinygmm` is the scratch copy's package; output unbuffered, so stdout and stderr keep their order."""
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "tinygmm"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tinygmm "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo / "scripts"),
        PYTHONUNBUFFERED="1",
        COLUMNS="100",
        TERM="dumb",
    )
    env.pop("TINYGMM_SKIP_EXPORT", None)
    return env


def run_console(block: Block, repo: Path, env: dict[str, str]) -> None:
    for command, expected in console_steps(block):
        r = subprocess.run(
            ["bash", "-c", command],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if not output_matches(expected, r.stdout):
            pytest.fail(
                f"{block.where}: `$ {command}` (exit status {r.returncode}) printed\n{r.stdout}\n"
                f"--- the page shows ---\n" + "\n".join(normalise(expected)),
                pytrace=False,
            )


def run_pycon(block: Block, globs: dict[str, object]) -> None:
    test = doctest.DocTestParser().get_doctest(block.text, globs, block.where, str(block.page), block.line)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=out.append, clear_globs=False)
    if runner.failures:
        pytest.fail(f"{block.where}: the Python session's output differs:\n" + "".join(out), pytrace=False)


# ---- tests -------------------------------------------------------------------------------------------------


def test_site_builds_strict(tmp_path: Path) -> None:
    """Every page in the nav, every link and anchor resolving, the CLI reference generated: no warning."""
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "scripts")},
        timeout=COMMAND_TIMEOUT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    cli_page = (tmp_path / "cli" / "index.html").read_text(encoding="utf-8")
    assert "cli-reference" not in cli_page  # the marker was replaced

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                assert f"tinygmm {name}" in cli_page, f"subcommand {name} missing from the CLI reference"
                for a in sub._actions:
                    for flag in a.option_strings:
                        if flag not in ("-h", "--help"):
                            assert flag in cli_page, f"{name} {flag} missing from the CLI reference"


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_show_their_output(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = scratch_copy(tmp_path / "repo")
    env = shell_env(repo, tmp_path / "bin")
    monkeypatch.chdir(repo)  # pycon sessions run in the copy too
    globs: dict[str, object] = {"__name__": "__docs__"}
    for block in runnable(page):
        if block.language == "console":
            run_console(block, repo, env)
        else:
            run_pycon(block, globs)


def test_blocks_that_show_output_are_marked_to_run() -> None:
    """Output shown in a block that is not run would go stale unnoticed: such blocks must be console/pycon."""
    problems: list[str] = []
    for page in PAGES:
        for b in code_blocks(page):
            lines = b.text.split("\n")
            if b.language in ("sh", "bash", "shell", "") and any(line.startswith("$ ") for line in lines):
                problems.append(f"{b.where}: a '$ ' prompt in a {b.language or 'plain'} block: make it ```console")
            if b.language in ("python", "py", "") and any(line.startswith(">>> ") for line in lines):
                problems.append(f"{b.where}: '>>>' in a {b.language or 'plain'} block: make it ```pycon")
            if (
                b.language in RUN_LANGUAGES
                and b.title.startswith(SKIP_TITLE)
                and not b.title[len(SKIP_TITLE) :].strip()
            ):
                problems.append(f'{b.where}: title="{SKIP_TITLE}" needs a reason')
    assert not problems, "\n".join(problems)


def test_readme_links_resolve() -> None:
    """The README is read on GitHub and PyPI, outside the site: its relative links must name files that exist."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        if "://" not in target and not (ROOT / target).exists()
    ]
    assert not missing, f"README.md links to missing files: {missing}"


def test_output_matching() -> None:
    """The ``...`` rules contributors rely on."""
    assert output_matches(["a", "...", "d"], "a\nb\nc\nd\n")
    assert output_matches(["a", "...", "b"], "a\nb\n")  # none elided
    assert output_matches(["rate (...)"], "rate (123/s)\n")
    assert output_matches(["x"], "x   \n\n")  # trailing blanks
    assert not output_matches(["a", "b"], "a\nc\n")
    assert not output_matches(["rate (...)"], "rate (1\n2)\n")  # inside a line stays on the line
    assert not output_matches([], "unexpected\n")  # a command shown without output must print nothing
