"""The library as users install it: a PlatformIO package (``--pack``) and an Arduino IDE zip (``--zip``).

``tinygmm library --pack DIR`` stages the library's exported files (library.json's ``export.include``)
and a wheel of this Python package under ``python/``, then runs ``pio pkg pack`` on the stage: the
tarball is what PlatformIO's registry would serve, and its build hook (tinygmm_build.py) installs
that wheel into PlatformIO's own Python when a project's ``custom_gmm_*`` options need it. Packing
needs a checkout (the wheel is built from pyproject.toml).

``tinygmm library --zip FILE`` writes the zip for the Arduino IDE's "Add .ZIP Library": one
``tinygmm/`` folder with library.properties, keywords.txt, ``src/`` and ``examples/`` (the IDE runs
no Python: the model header is made with ``tinygmm export``). Entries are sorted and dated
1980-01-01, so the same library gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..codegen.runtime import library_path
from ..errors import TinyGMMError

ARDUINO_ENTRIES = ("library.properties", "keywords.txt", "src", "examples")
WHEEL_DIR = "python"  # in the packed library: the wheel the build hook installs
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def library_version(lib: Path) -> str:
    return str(json.loads((lib / "library.json").read_text(encoding="utf-8"))["version"])


def exported_entries(lib: Path) -> list[str]:
    """library.json's export.include that exist in this library folder."""
    include = json.loads((lib / "library.json").read_text(encoding="utf-8")).get("export", {}).get("include", [])
    return [name for name in include if (lib / name).exists()]


def _files(lib: Path, entries: tuple[str, ...] | list[str]) -> list[Path]:
    """Files under these entries, sorted, without caches."""
    out: list[Path] = []
    for name in entries:
        path = lib / name
        items = sorted(path.rglob("*")) if path.is_dir() else [path]
        out += [p for p in items if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return out


def checkout_root(lib: Path) -> Path:
    """The repository around lib/tinygmm (it has the pyproject.toml the wheel is built from)."""
    root = lib.resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "scripts" / "tinygmm").is_dir():
        raise TinyGMMError(
            f"packing the library needs a tinygmm checkout (pyproject.toml next to lib/tinygmm); {lib} is an "
            "installed copy: clone the repository and run tinygmm library --pack there"
        )
    return root


def build_wheel(root: Path, out: Path) -> Path:
    """A wheel of the Python package (hatchling, as pyproject.toml says) in out/."""
    out.mkdir(parents=True, exist_ok=True)
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "--wheel-dir", str(out), str(root)]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}  # 1980-01-01: the same sources give the same wheel
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wheels = sorted(out.glob("tinygmm-*.whl"))
    if r.returncode != 0 or len(wheels) != 1:
        last = (r.stderr.strip().splitlines() or ["no wheel written"])[-1]
        raise TinyGMMError(f"could not build the tinygmm wheel ({last}); run: {' '.join(cmd)}")
    return wheels[0]


def stage(dest: Path, lib: Path | None = None) -> Path:
    """The library's exported files and, under python/, a wheel of this package: what --pack packs."""
    lib = lib or library_path()
    root = checkout_root(lib)
    for src in _files(lib, [e for e in exported_entries(lib) if e != WHEEL_DIR]):
        target = dest / src.relative_to(lib)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    build_wheel(root, dest / WHEEL_DIR)
    return dest


def pio_command() -> list[str]:
    """How to run PlatformIO: this Python's platformio module, else pio on PATH."""
    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, "-m", "platformio"]
    exe = shutil.which("pio") or shutil.which("platformio")
    if exe is None:
        raise TinyGMMError("PlatformIO is not installed: pip install platformio (or give pio on PATH)")
    return [exe]


def pack(out_dir: Path, pio: list[str] | None = None, lib: Path | None = None) -> Path:
    """``pio pkg pack`` of the staged library into out_dir; returns the tarball."""
    lib = lib or library_path()
    out_dir.mkdir(parents=True, exist_ok=True)
    tarball = out_dir / f"tinygmm-{library_version(lib)}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="tinygmm-pack-") as tmp:
        staged = stage(Path(tmp) / "tinygmm", lib)
        cmd = [*(pio or pio_command()), "pkg", "pack", str(staged), "--output", str(tarball)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0 or not tarball.is_file():
        text = [ln.strip() for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        why = next((ln for ln in text if "Error" in ln), text[-1] if text else "no output")
        if "SPDX" in why:
            why += " (pio pkg pack downloads SPDX's license list from GitHub to check library.json: it needs network)"
        raise TinyGMMError(f"pio pkg pack failed: {why}")
    return tarball


def arduino_zip(path: Path, lib: Path | None = None) -> Path:
    """The Arduino IDE's "Add .ZIP Library" zip of the library, written atomically."""
    lib = lib or library_path()
    if path.is_dir():
        path = path / f"tinygmm-{library_version(lib)}.zip"
    if path.suffix.lower() != ".zip":
        raise TinyGMMError(f"--zip {path}: the Arduino IDE adds a library from a .zip file; name it *.zip")
    if not path.parent.is_dir():
        raise TinyGMMError(f"--zip {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tinygmm-{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for src in _files(lib, ARDUINO_ENTRIES):
                info = zipfile.ZipInfo("tinygmm/" + src.relative_to(lib).as_posix(), ZIP_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, src.read_bytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def library_command(zip_path: str | None, pack_dir: str | None) -> int:
    """``tinygmm library [--zip FILE] [--pack DIR]``: print the folder, or make the zip / tarball."""
    if zip_path is None and pack_dir is None:
        print(library_path())
        return 0
    if zip_path is not None:
        print(f"tinygmm: wrote {arduino_zip(Path(zip_path))} (Arduino IDE: Sketch > Include Library > Add .ZIP)")
    if pack_dir is not None:
        tarball = pack(Path(pack_dir))
        print(f"tinygmm: wrote {tarball} (platformio.ini: lib_deps = file://{tarball.resolve()})")
    return 0
