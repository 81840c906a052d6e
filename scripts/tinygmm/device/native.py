"""The native (host) firmware build, and running it as a serial device on a pty."""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import subprocess
import termios
import tty
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..errors import TinyGMMError

PIO_PROGRAM = Path(".pio/build/native/program")
GCC_PROGRAM = Path("build/native/tinygmm-firmware")
CXXFLAGS = ["-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror"]


def firmware_sources(root: Path) -> list[Path]:
    return [root / "src" / "main.cpp", *sorted((root / "lib" / "tinygmm" / "src").glob("*.cpp"))]


def build_native(root: Path = Path("."), out: Path | None = None, extra_flags: list[str] | None = None) -> Path:
    """Compile src/ + lib/ for the host with g++ (what `pio run -e native` builds)."""
    out = root / (out or GCC_PROGRAM)
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise TinyGMMError("no C++ compiler found (install g++) to build the native firmware")
    header = root / "include" / "GMM.h"
    if not header.is_file():
        raise TinyGMMError(f"{header} not found: run 'tinygmm export' first")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        cxx,
        *CXXFLAGS,
        *(extra_flags or []),
        "-I",
        str(root / "include"),
        "-I",
        str(root / "lib" / "tinygmm" / "src"),
        *map(str, firmware_sources(root)),
        "-o",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyGMMError(f"native firmware build failed:\n{r.stderr.strip()}")
    return out


def find_native_firmware(spec: str) -> Path:
    """``native`` -> the PlatformIO build if present, else a g++ build; ``native:PATH`` -> PATH."""
    if spec.startswith("native:"):
        exe = Path(spec.split(":", 1)[1])
        if not exe.is_file() or not os.access(exe, os.X_OK):
            raise TinyGMMError(f"native firmware {exe} not found or not executable")
        return exe.resolve()  # "native:fw" is the file fw here, not a program on PATH
    if PIO_PROGRAM.is_file() and _newer_than_sources(PIO_PROGRAM):
        return PIO_PROGRAM
    if GCC_PROGRAM.is_file() and _newer_than_sources(GCC_PROGRAM):
        return GCC_PROGRAM
    return build_native(Path("."))


def _newer_than_sources(exe: Path) -> bool:
    root = Path(".")
    deps = [*firmware_sources(root), *root.glob("include/*.h"), *root.glob("lib/tinygmm/src/*.h")]
    t = exe.stat().st_mtime
    return all(not d.exists() or d.stat().st_mtime <= t for d in deps)


class PtyDevice:
    """Runs a native firmware on the master side of a pty; ``port`` is the slave path.

    The slave is put in raw mode before the firmware starts, so nothing is
    echoed back and bytes pass unchanged, as on a real UART.
    """

    def __init__(
        self, exe: Path, args: Sequence[str] = (), stderr: int | IO[bytes] | None = subprocess.DEVNULL
    ) -> None:
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
