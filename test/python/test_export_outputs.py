"""Issue 15, items 3, 4 and 5 (outputs): where the export writes, and all-or-nothing.

* Outputs that collide with each other or with the training data, after
  resolving ``..`` and symlinks, are refused before any work.
* Outputs that cannot be written (a folder, an empty name, a parent that is a
  file, a name too long, a read-only or immutable folder) are one clear line,
  before fitting, with nothing changed.
* A failure or a kill -9 between the renames never leaves a set that the next
  ``--if-changed`` export takes for current, and temporary files do not pile up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinygmm.cli import main
from tinygmm.codegen.runtime import runtime_path
from tinygmm.export.requests import INPUT_HASH_TAG

PREVIOUS = {"GMM.h": b"// previous header\n", "GMM.json": b"{}\n", "golden.h": b"// previous vectors\n"}


def make_data(tmp: Path) -> bytes:
    rng = np.random.default_rng(1)
    X = np.round(np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))]), 3)
    text = "a,b\n" + "".join(f"{x!r},{y!r}\n" for x, y in X.tolist())
    (tmp / "d.csv").write_text(text)
    return text.encode()


def prepare(tmp: Path) -> bytes:
    (tmp / "out").mkdir()
    for name, content in PREVIOUS.items():
        (tmp / "out" / name).write_bytes(content)
    return make_data(tmp)


def argv(
    header: str = "out/GMM.h", json_: str = "out/GMM.json", vectors: str = "out/golden.h", *extra: str
) -> list[str]:
    return [
        "export",
        "--data",
        "d.csv",
        "--header",
        header,
        "--json",
        json_,
        "--vectors",
        vectors,
        "--n-components",
        "2",
        *extra,
    ]


def snapshot(tmp: Path) -> dict[str, bytes]:
    """Every file under tmp (names relative, symlinks as their target)."""
    out = {}
    for p in sorted(tmp.rglob("*")):
        rel = str(p.relative_to(tmp))
        if p.is_symlink():
            out[rel] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = b"<dir>"
    return out


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the export gets as far as fitting."""
    import tinygmm.export.requests

    def fit(*_a: object, **_k: object) -> None:
        raise AssertionError("the export fitted a model before refusing its outputs")

    monkeypatch.setattr(tinygmm.export.requests, "fit", fit)


def refused(tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """One error line naming the problem, exit 2, every file under tmp unchanged."""
    before = snapshot(tmp)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        rc = main(args)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("tinygmm: error: "), err
    assert message in lines[0], lines[0]
    assert snapshot(tmp) == before


COLLISIONS = {
    "header is the data": (argv(header="d.csv"), "--header 'd.csv' is the training data 'd.csv'"),
    "json is the data": (argv(json_="./d.csv"), "--json 'd.csv' is the training data"),
    "vectors is the data via ..": (argv(vectors="out/../d.csv"), "--vectors 'out/../d.csv' is the training data"),
    "json equals header": (argv(json_="out/GMM.h"), "--header and --json name the same file"),
    "vectors equals json": (argv(vectors="out/GMM.json"), "--json and --vectors name the same file"),
    "header through ..": (argv(json_="out/../out/GMM.h"), "--header and --json name the same file"),
    "header through a symlink": (argv(header="link/GMM.h", json_="out/GMM.h"), "--header and --json name the same"),
    "vectors is a symlink to the json": (argv(vectors="out/alias.h"), "--json and --vectors name the same file"),
    "header is a hard link to the data": (argv(header="out/hard.csv"), "is the training data"),
    "header is the C++ runtime": (
        argv(header=str(runtime_path())),
        "is the C++ runtime",
    ),
}


@pytest.mark.parametrize(("args", "message"), COLLISIONS.values(), ids=COLLISIONS.keys())
def test_colliding_outputs_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_fit: None, args: list[str], message: str
) -> None:
    prepare(tmp_path)
    (tmp_path / "link").symlink_to("out")
    (tmp_path / "out" / "alias.h").symlink_to("GMM.json")
    os.link(tmp_path / "d.csv", tmp_path / "out" / "hard.csv")
    refused(tmp_path, capsys, args, message)


def test_symlinked_output_is_written_where_it_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header that is a symlink stays one: the file it points to gets the new model."""
    prepare(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "model.h").write_text("// old\n")
    (tmp_path / "out" / "GMM.h").unlink()
    (tmp_path / "out" / "GMM.h").symlink_to("../real/model.h")
    monkeypatch.chdir(tmp_path)
    assert main(argv()) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "GMM.h").is_symlink()
    assert "namespace gmm" in (tmp_path / "real" / "model.h").read_text()


UNWRITABLE = {
    "json is a folder": (argv(json_="out"), "--json 'out' is a folder, not a file"),
    "json ends in /": (argv(json_="out/new/"), "--json 'out/new/' names a folder"),
    "empty json": (argv(json_=""), "--json is empty"),
    "empty vectors": (argv(vectors=""), "--vectors is empty"),
    "blank header": (argv(header="  "), "--header is empty"),
    "parent is a file": (argv(json_="d.csv/GMM.json"), "--json 'd.csv/GMM.json': "),
    "grandparent is a file": (argv(vectors="out/GMM.h/x/golden.h"), "is a file, not a folder"),
    "file name too long": (argv(header="out/" + "h" * 250 + ".h"), "the file name is too long (252 bytes; at most"),
    "folder name too long": (argv(json_="out/" + "d" * 300 + "/m.json"), "is longer than 255 bytes"),
    "file name too long for the file system": (argv(header="out/" + "h" * 256), "is longer than 255 bytes"),
    "not a regular file": (argv(vectors="/dev/null"), "--vectors '/dev/null' is not a regular file"),
}


@pytest.mark.parametrize(("args", "message"), UNWRITABLE.values(), ids=UNWRITABLE.keys())
def test_unwritable_outputs_refused_before_fitting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_fit: None, args: list[str], message: str
) -> None:
    prepare(tmp_path)
    refused(tmp_path, capsys, args, message)


def lock(folder: Path) -> list[str]:
    """Make folder unwritable (immutable for root, mode 555 otherwise); return the command that undoes it."""
    if os.geteuid() == 0:  # root writes through mode bits; an immutable folder stops even root
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available on this file system")
        return [chattr, "-i", str(folder)]
    folder.chmod(0o555)
    return ["chmod", "755", str(folder)]


def test_read_only_or_immutable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before fitting; but an up-to-date set in a locked folder is fine for --if-changed."""
    prepare(tmp_path)
    monkeypatch.chdir(tmp_path)
    fresh = argv("fresh/GMM.h", "fresh/GMM.json", "fresh/golden.h")
    assert main(fresh) == 0
    capsys.readouterr()
    undo = [lock(tmp_path / "out"), lock(tmp_path / "fresh")]
    try:
        assert main([*fresh, "--if-changed"]) == 0
        assert "up to date" in capsys.readouterr().out
        import tinygmm.export.requests

        monkeypatch.setattr(tinygmm.export.requests, "fit", None)  # refused before fitting: never called
        refused(tmp_path, capsys, argv(), "--header 'out/GMM.h': the folder")
        refused(tmp_path, capsys, argv(header="elsewhere/GMM.h", json_="out/new/m.json"), "is not writable")
        refused(tmp_path, capsys, [*fresh, "--if-changed", "--scaler", "standard"], "is not writable")
    finally:
        for cmd in undo:
            subprocess.run(cmd, check=True)


# --------------------------------------------------------------------------
# All or nothing
# --------------------------------------------------------------------------


def tags(tmp: Path) -> dict[str, str]:
    """The input-hash tag each output carries (what --if-changed compares)."""
    out = {}
    for name in PREVIOUS:
        text = (tmp / "out" / name).read_text()
        line = next((x for x in text.splitlines() if INPUT_HASH_TAG in x), "")
        out[name] = line.split(INPUT_HASH_TAG)[-1].strip().strip('",')
    return out


def consistent(tmp: Path) -> None:
    """Header, JSON and vectors are one model from one set of inputs."""
    t = tags(tmp)
    assert len(set(t.values())) == 1 and "" not in t.values(), t
    model_hash = json.loads((tmp / "out" / "GMM.json").read_text())["model_hash"]
    for name in ("GMM.h", "golden.h"):
        assert re.search(rf'MODEL_HASH\[\][^=]*= "{model_hash}";', (tmp / "out" / name).read_text()), name


def temp_files(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "out").iterdir() if p.name not in PREVIOUS)


def test_failed_rename_restores_the_previous_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second rename fails (after the header was replaced): the header gets its old bytes back."""
    prepare(tmp_path)
    monkeypatch.chdir(tmp_path)
    real_replace = os.replace
    calls = []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    rc = main(argv())
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "cannot replace" in err[0] and "Input/output error" in err[0] and "were restored" in err[0]
    for name, content in PREVIOUS.items():
        assert (tmp_path / "out" / name).read_bytes() == content, name
    assert temp_files(tmp_path) == []


def test_disk_full_while_writing_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second temporary file cannot be written (ENOSPC): one line, no output replaced, no temp left."""
    prepare(tmp_path)
    monkeypatch.chdir(tmp_path)
    import tinygmm.export.atomic

    real_fdopen = os.fdopen
    opened = []

    def fdopen(fd: int, *args: object, **kw: object):  # returns what os.fdopen returns
        opened.append(fd)
        fh = real_fdopen(fd, *args, **kw)  # type: ignore[call-overload]
        if len(opened) == 2:
            fh.close()
            raise OSError(28, "No space left on device")
        return fh

    monkeypatch.setattr(tinygmm.export.atomic.os, "fdopen", fdopen)
    rc = main(argv())
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "cannot write" in err[0] and "No space left on device; no output was changed" in err[0]
    for name, content in PREVIOUS.items():
        assert (tmp_path / "out" / name).read_bytes() == content, name
    assert temp_files(tmp_path) == []


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    real = os.replace
    count = [0]
    def replace(src, dst):
        real(src, dst)
        count[0] += 1
        if count[0] == int(os.environ["KILL_AFTER_RENAMES"]):
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    from tinygmm.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run(tmp: Path, args: list[str], kill_after: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if kill_after is not None:
        env["KILL_AFTER_RENAMES"] = str(kill_after)
        cmd = [sys.executable, "-c", KILLER, *args]
    else:
        cmd = [sys.executable, "-m", "tinygmm", *args]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)


NEW = argv("out/GMM.h", "out/GMM.json", "out/golden.h", "--scaler", "standard")


@pytest.mark.parametrize("kill_after", [1, 2])
def test_kill_between_renames_is_noticed_and_cleaned(tmp_path: Path, kill_after: int) -> None:
    """kill -9 after the first (or second) of three renames: the next --if-changed export, with
    the new inputs or with the old ones, refits, ends with one consistent set and removes the
    killed run's temporary files."""
    make_data(tmp_path)
    assert run(tmp_path, argv()).returncode == 0  # a consistent set for K=2
    consistent(tmp_path)
    old = tags(tmp_path)
    r = run(tmp_path, NEW, kill_after)
    assert r.returncode == -9, r.stderr
    mixed = tags(tmp_path)
    assert len(set(mixed.values())) == 2, mixed  # some outputs new, some old
    left = temp_files(tmp_path)
    assert len(left) == 3 - kill_after and all(".tinygmm-" in n and n.endswith(".tmp") for n in left), left
    for args in (argv(), NEW):
        r = run(tmp_path, [*args, "--if-changed"])
        assert r.returncode == 0, r.stderr
        assert "up to date" not in r.stdout, "a mixed set was taken for current"
        consistent(tmp_path)
        assert temp_files(tmp_path) == []
    again = run(tmp_path, [*NEW, "--if-changed"])
    assert "up to date" in again.stdout
    assert tags(tmp_path) != old


def test_only_dead_writers_temp_files_are_removed(tmp_path: Path) -> None:
    make_data(tmp_path)
    (tmp_path / "out").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "out" / f".GMM.h.tinygmm-{dead_pid}-abcdefgh.tmp"
    live = tmp_path / "out" / f".GMM.json.tinygmm-{os.getpid()}-abcdefgh.tmp"  # this pytest process: alive
    other = tmp_path / "out" / ".GMM.h.notours.tmp"
    for p in (stale, live, other):
        p.write_text("partial")
    r = run(tmp_path, [*argv(), "--if-changed"])
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and live.exists() and other.exists()
    # and an up-to-date run (which writes nothing) cleans as well
    stale.write_text("partial")
    r = run(tmp_path, [*argv(), "--if-changed"])
    assert "up to date" in r.stdout and not stale.exists()


def test_if_changed_with_long_feature_names(tmp_path: Path) -> None:
    """40 features with 120-character names put the inputs tag past the first 4 KB of every
    output: an unchanged export is still recognised as up to date."""
    rng = np.random.default_rng(2)
    names = [f"{i:02d} " + "sensor reading with a long descriptive name " * 3 for i in range(40)]
    names = [n[:120].strip() for n in names]
    X = np.round(rng.normal(size=(60, 40)), 3)
    (tmp_path / "d.csv").write_text(",".join(names) + "\n" + "".join(",".join(map(repr, r)) + "\n" for r in X.tolist()))
    args = ["export", "--data", "d.csv", "--header", "out/GMM.h", "--json", "out/GMM.json", "--vectors", "none"]
    args += ["--n-components", "1", "--covariance-type", "diag"]
    assert run(tmp_path, args).returncode == 0
    header = (tmp_path / "out" / "GMM.h").read_text()
    assert header.index(INPUT_HASH_TAG) > 4096
    r = run(tmp_path, [*args, "--if-changed"])
    assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr
