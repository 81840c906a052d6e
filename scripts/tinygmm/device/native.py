"""The native (host) firmware build, and running it as a serial device on a pty."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pty
import shutil
import subprocess
import tempfile
import termios
import tty
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from ..codegen.runtime import library_path
from ..errors import TinyGMMError
from ..platformio.config import ini_learn_level

GCC_PROGRAM = Path("build/native/tinygmm-firmware")
CXXFLAGS = ["-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror"]
FIRMWARE_MAIN = '#include "tinygmm_firmware.h"\n'  # the whole firmware is the library's tinygmm_firmware.h


def firmware_sources(root: Path) -> list[Path]:
    """A checkout's firmware: src/main.cpp (an include of tinygmm_firmware.h) and the library's sources."""
    return [root / "src" / "main.cpp", *sorted((root / "lib" / "tinygmm" / "src").glob("*.cpp"))]


def cache_root() -> Path:
    """Where firmware built for a model header is kept: $XDG_CACHE_HOME/tinygmm (default ~/.cache/tinygmm)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinygmm"


def _compiler() -> str:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise TinyGMMError("no C++ compiler found (install g++) to build the native firmware")
    return cxx


def _compile(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyGMMError(f"native firmware build failed:\n{r.stderr.strip()}")


def native_learn_level(root: Path = Path(".")) -> int:
    """custom_gmm_learn of platformio.ini's [env:native] (0 off, 1 adapt, 2 scratch; 0 without the file)."""
    ini = root / "platformio.ini"
    return ini_learn_level(ini, "native") if ini.is_file() else 0


def learn_flags(level: int) -> list[str]:
    return [f"-DTINYGMM_LEARN={level}"] if level else []


def build_native(
    root: Path = Path("."), out: Path | None = None, extra_flags: list[str] | None = None, learn: int | None = None
) -> Path:
    """Compile a checkout's src/ + lib/ with include/GMM.h for the host with g++ (what `pio run -e native` builds).
    ``learn``: TINYGMM_LEARN (None: platformio.ini's custom_gmm_learn for [env:native])."""
    level = native_learn_level(root) if learn is None else learn
    extra_flags = [*(extra_flags or []), *learn_flags(level)]
    default = GCC_PROGRAM.with_name(f"{GCC_PROGRAM.name}-learn{level}") if level else GCC_PROGRAM
    out = root / (out or default)
    cxx = _compiler()
    header = root / "include" / "GMM.h"
    if not header.is_file():
        raise TinyGMMError(f"{header} not found: run 'tinygmm export' first")
    out.parent.mkdir(parents=True, exist_ok=True)
    lib = root / "lib" / "tinygmm" / "src"
    inc = ["-I", str(root / "include"), "-I", str(lib)]
    _compile([cxx, *CXXFLAGS, *(extra_flags or []), *inc, *map(str, firmware_sources(root)), "-o", str(out)])
    return out


def model_header(path: str | Path) -> bytes:
    """The bytes of the model header a firmware is built for, or one line saying how to get one."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise TinyGMMError(
            f"model header {p} not found: export one first (tinygmm export --data FILE.csv writes GMM.h here) "
            "or name it with --header"
        ) from None
    except OSError as exc:
        raise TinyGMMError(f"cannot read the model header {p}: {exc.strerror or exc}") from None


def cached_build(kind: str, key_parts: list[bytes], header: bytes, build: Callable[[Path], Path]) -> Path:
    """Build once per inputs: ``build(folder)`` writes into a fresh folder (holding GMM.h and main.cpp) that
    becomes ``cache_root()/<kind>-<hash of the inputs>``; the next call with the same inputs returns at once."""
    h = hashlib.sha256()
    for part in [*key_parts, header]:
        h.update(hashlib.sha256(part).digest())
    root = cache_root()
    done = root / f"{kind}-{h.hexdigest()[:16]}"
    marker = done / "built"
    if marker.is_file():
        return done / marker.read_text(encoding="utf-8").strip()
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=root))
    except OSError as exc:
        raise TinyGMMError(f"cannot create the build cache {root}: {exc.strerror or exc} (set XDG_CACHE_HOME)") from None
    try:
        (work / "GMM.h").write_bytes(header)
        (work / "main.cpp").write_text(FIRMWARE_MAIN, encoding="utf-8")
        exe = build(work)
        (work / "built").write_text(exe.name + "\n", encoding="utf-8")
        try:
            os.rename(work, done)
        except OSError:  # built meanwhile by another call: keep that one
            if not marker.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return done / marker.read_text(encoding="utf-8").strip()


def native_for_header(header: str | Path, extra_flags: list[str] | None = None) -> Path:
    """The native firmware for this model header, from the library the package carries, built into the cache."""
    text = model_header(header)
    cxx = _compiler()
    lib = library_path() / "src"
    sources = sorted(lib.glob("*.cpp"))
    flags = [*CXXFLAGS, *(extra_flags or [])]
    key = [cxx.encode(), " ".join(flags).encode(), *(p.name.encode() + p.read_bytes() for p in sorted(lib.iterdir()) if p.is_file())]

    def build(work: Path) -> Path:
        out = work / "tinygmm-firmware"
        inc = ["-I", str(work), "-I", str(lib)]
        _compile([cxx, *flags, *inc, str(work / "main.cpp"), *map(str, sources), "-o", str(out)])
        return out

    return cached_build("native", key, text, build)


def find_native_firmware(spec: str, header: str | Path = "GMM.h") -> Path:
    """``native`` -> the native firmware for the model header (built once, kept in the cache; a learning
    firmware where ./platformio.ini's [env:native] sets custom_gmm_learn); ``native:PATH`` -> the program PATH."""
    if spec.startswith("native:"):
        exe = Path(spec.split(":", 1)[1])
        if not exe.is_file() or not os.access(exe, os.X_OK):
            raise TinyGMMError(f"native firmware {exe} not found or not executable")
        return exe.resolve()  # "native:fw" is the file fw here, not a program on PATH
    return native_for_header(header, learn_flags(native_learn_level()))


class PtyDevice:
    """Runs a native firmware on the master side of a pty; ``port`` is the slave path.

    The slave is put in raw mode before the firmware starts, so nothing is
    echoed back and bytes pass unchanged, as on a real UART.
    """

    def __init__(self, exe: Path, args: Sequence[str] = (), stderr: int | IO[bytes] | None = subprocess.DEVNULL) -> None:
        self.exe = exe
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        self.port = os.ttyname(self.slave)
        self.proc = subprocess.Popen(
            [str(exe), *args], stdin=self.master, stdout=self.master, stderr=stderr, close_fds=True
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
