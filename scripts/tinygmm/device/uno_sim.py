"""The Uno firmware (Arduino core, HardwareSerial) on simavr, as a serial device on a pty.

``--port simavr`` builds the firmware (the library's ``tinygmm_firmware.h``) for a model
header against Debian's ``arduino-core-avr`` with avr-g++, into the cache folder (see
``native.cache_root``), and runs it at 16 MHz in ``simavr_uart`` (a small
libsimavr program, ``simavr_uart.c`` beside this file, compiled on first use)
whose UART0 is the pty: bytes reach the simulated ATmega328P at the baud rate's
real pace in simulated time, and simulated time keeps step with the wall clock.
``--port simavr:PATH.elf`` runs a given ELF.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..codegen.runtime import library_path
from ..errors import TinyGMMError
from .native import PtyDevice, cache_root, cached_build, firmware_sources, model_header

ARDUINO_AVR = Path("/usr/share/arduino/hardware/arduino/avr")
BRIDGE_SOURCE = Path(__file__).with_name("simavr_uart.c")
BUILD_DIR = Path("build/uno")
MCU = "atmega328p"
F_CPU = 16_000_000
# What PlatformIO's `uno` environment passes (atmelavr platform, Arduino framework).
UNO_DEFINES = [f"-mmcu={MCU}", f"-DF_CPU={F_CPU}L", "-DARDUINO=10819", "-DARDUINO_AVR_UNO", "-DARDUINO_ARCH_AVR"]
COMMON = ["-Os", "-ffunction-sections", "-fdata-sections"]
# Debian's core (1.8.7) needs C99's DECIMAL_DIG, which avr-gcc 5.4's <float.h> gives C only.
CORE_CXX = ["-DDECIMAL_DIG=__DECIMAL_DIG__", "-fpermissive"]
CXX_ONLY = ["-std=gnu++11", "-fno-exceptions", "-fno-threadsafe-statics"]
OUR_WARNINGS = ["-Wall", "-Wextra", "-Werror"]
_STATS = re.compile(r"^simavr_uart: (cycles=.*)$")


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TinyGMMError(f"{name} not found: {hint}")
    return path


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyGMMError(f"{what} failed:\n{r.stderr.strip()[-2000:]}")


def _stale(out: Path, deps: list[Path]) -> bool:
    if not out.is_file():
        return True
    t = out.stat().st_mtime
    return any(d.exists() and d.stat().st_mtime > t for d in deps)


def build_bridge(out: Path | None = None) -> Path:
    """Compile simavr_uart.c against libsimavr (Debian: libsimavr-dev libelf-dev), by default into the cache."""
    out = out or cache_root() / "simavr_uart"
    if not _stale(out, [BRIDGE_SOURCE]):
        return out
    cc = shutil.which("cc") or _tool("gcc", "install gcc to build the simavr bridge")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        raise TinyGMMError("libsimavr headers not found: apt-get install libsimavr-dev libelf-dev")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    _run(
        [cc, "-O2", "-std=c99", *OUR_WARNINGS, str(BRIDGE_SOURCE), "-o", str(tmp), "-lsimavr", "-lelf"],
        "building the simavr bridge",
    )
    tmp.replace(out)
    return out


def build_arduino_core(out_dir: Path) -> Path:
    """The Arduino AVR core (Debian's arduino-core-avr) as ``core.a``, built once per folder."""
    core_dir = ARDUINO_AVR / "cores" / "arduino"
    if not (core_dir / "Arduino.h").is_file():
        raise TinyGMMError("Debian's Arduino core is not installed: apt-get install arduino-core-avr")
    archive = out_dir / "core.a"
    sources = sorted(p for p in core_dir.iterdir() if p.suffix in (".c", ".cpp", ".S"))
    if not _stale(archive, sources):
        return archive
    cxx = _tool("avr-g++", "apt-get install gcc-avr avr-libc")
    gcc = _tool("avr-gcc", "apt-get install gcc-avr avr-libc")
    ar = _tool("avr-gcc-ar", "apt-get install gcc-avr binutils-avr")
    obj_dir = out_dir / "core"
    obj_dir.mkdir(parents=True, exist_ok=True)
    inc = ["-I", str(core_dir), "-I", str(ARDUINO_AVR / "variants" / "standard")]
    objs = []
    for src in sources:
        obj = obj_dir / (src.name + ".o")
        if src.suffix == ".cpp":
            cmd = [cxx, *UNO_DEFINES, *COMMON, *CXX_ONLY, *CORE_CXX, *inc, "-c", str(src), "-o", str(obj)]
        elif src.suffix == ".c":
            cmd = [gcc, *UNO_DEFINES, *COMMON, "-std=gnu11", *inc, "-c", str(src), "-o", str(obj)]
        else:
            cmd = [gcc, *UNO_DEFINES, "-x", "assembler-with-cpp", *inc, "-c", str(src), "-o", str(obj)]
        _run(cmd, f"compiling the Arduino core ({src.name})")
        objs.append(str(obj))
    tmp = archive.with_name("core.a.tmp")
    tmp.unlink(missing_ok=True)
    _run([ar, "rcs", str(tmp), *objs], "archiving the Arduino core")
    tmp.replace(archive)
    return archive


def _link_uno(sources: list[Path], inc_dirs: list[Path], out: Path, core: Path, extra_flags: list[str] | None) -> Path:
    """Compile the firmware's sources against the Arduino core for the Uno and link them into out (an ELF)."""
    cxx = _tool("avr-g++", "apt-get install gcc-avr avr-libc")
    inc = ["-I", str(ARDUINO_AVR / "cores" / "arduino"), "-I", str(ARDUINO_AVR / "variants" / "standard")]
    for d in inc_dirs:
        inc += ["-I", str(d)]
    obj_dir = out.with_name(out.name + ".obj")
    obj_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in sources:
        obj = obj_dir / (src.name + ".o")
        cmd = [cxx, *UNO_DEFINES, *COMMON, *CXX_ONLY, *OUR_WARNINGS, *(extra_flags or []), *inc, "-c", str(src)]
        _run([*cmd, "-o", str(obj)], f"compiling {src.name} for the Uno")
        objs.append(str(obj))
    tmp = out.with_name(out.name + ".tmp")
    _run(
        [cxx, f"-mmcu={MCU}", "-Os", "-Wl,--gc-sections", *objs, str(core), "-o", str(tmp), "-lm"],
        "linking for the Uno",
    )
    tmp.replace(out)
    return out


def build_uno_firmware(root: Path = Path("."), out: Path | None = None, extra_flags: list[str] | None = None) -> Path:
    """A checkout's src/main.cpp + lib/tinygmm + include/GMM.h for the Uno (what `pio run -e uno` builds), as an ELF."""
    out = root / (out or BUILD_DIR / "firmware.elf")
    if not (root / "include" / "GMM.h").is_file():
        raise TinyGMMError(f"{root / 'include' / 'GMM.h'} not found: run 'tinygmm export' first")
    core = build_arduino_core(out.parent)
    inc = [root / "include", root / "lib" / "tinygmm" / "src"]
    return _link_uno(firmware_sources(root), inc, out, core, extra_flags)


def uno_for_header(header: str | Path, extra_flags: list[str] | None = None) -> Path:
    """The Uno firmware for this model header, from the library the package carries, built into the cache
    (the Arduino core once, in the cache's uno-core folder)."""
    text = model_header(header)
    cxx = _tool("avr-g++", "apt-get install gcc-avr avr-libc")
    lib = library_path() / "src"
    sources = sorted(lib.glob("*.cpp"))
    key = [cxx.encode(), " ".join(extra_flags or []).encode()]
    key += [p.name.encode() + p.read_bytes() for p in sorted(lib.iterdir()) if p.is_file()]
    core_dir = cache_root() / "uno-core"
    core_dir.mkdir(parents=True, exist_ok=True)
    core = build_arduino_core(core_dir)

    def build(work: Path) -> Path:
        return _link_uno([work / "main.cpp", *sources], [work, lib], work / "firmware.elf", core, extra_flags)

    return cached_build("uno", key, text, build)


def find_uno_firmware(spec: str, header: str | Path = "GMM.h") -> Path:
    """``simavr`` -> the Uno firmware for the model header (built once, kept in the cache); ``simavr:PATH`` -> PATH."""
    if spec.startswith("simavr:"):
        elf = Path(spec.split(":", 1)[1])
        if not elf.is_file():
            raise TinyGMMError(f"firmware {elf} not found (build it with 'pio run -e uno')")
        return elf
    return uno_for_header(header)


class SimulatedUno(PtyDevice):
    """``simavr_uart`` running an Uno firmware on a pty; ``port`` is the pty's slave.

    ``stats()`` asks the bridge (SIGUSR1) for its counters: simulated cycles,
    bytes each way, UART overruns, how far simulated time fell behind the wall.
    ``eeprom``: a file that holds the board's EEPROM (read at power-on when it exists, written at
    close()), so a firmware's saved state survives a "power cycle" (a new SimulatedUno).
    """

    def __init__(self, elf: Path, fast: bool = False, bridge: Path | None = None, eeprom: Path | None = None) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the bridge's stderr, closed in close()
        args = [str(elf), *(["--fast"] if fast else []), *(["--eeprom", str(eeprom)] if eeprom else [])]
        super().__init__(bridge or build_bridge(), args, stderr=self._log)
        deadline = time.monotonic() + 20
        while not self._lines():  # the bridge prints its first stats line once it runs the firmware
            if self.proc.poll() is not None or time.monotonic() > deadline:
                last = (self.log().strip().splitlines() or ["no output"])[-1]
                self.close()
                raise TinyGMMError(f"the simavr bridge did not start ({elf}): {last}")
            time.sleep(0.01)

    def stats(self, timeout: float = 2.0) -> dict[str, float]:
        if self.proc.poll() is None:
            seen = self._lines()
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            while self._lines() <= seen and time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.01)
        return self._last()

    def _lines(self) -> int:
        self._log.seek(0)
        return sum(1 for line in self._log.read().decode(errors="replace").splitlines() if _STATS.match(line))

    def _last(self) -> dict[str, float]:
        self._log.seek(0)
        found: dict[str, float] = {}
        for line in self._log.read().decode(errors="replace").splitlines():
            m = _STATS.match(line)
            if m:
                found = {k: float(v) for k, v in (kv.split("=", 1) for kv in m.group(1).split())}
        return found

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def close(self) -> None:
        super().close()
        self._log.close()


def simavr_available() -> str | None:
    """None when everything --port simavr needs is installed, else what is missing."""
    missing = [t for t in ("avr-g++", "avr-gcc-ar") if shutil.which(t) is None]
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        missing.append("cc")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        missing.append("libsimavr-dev")
    if not Path("/usr/include/libelf.h").is_file():
        missing.append("libelf-dev")
    if not (ARDUINO_AVR / "cores" / "arduino" / "Arduino.h").is_file():
        missing.append("arduino-core-avr")
    return (
        f"missing {', '.join(missing)} (apt-get install gcc-avr avr-libc arduino-core-avr libsimavr-dev libelf-dev)"
        if missing
        else None
    )


__all__ = [
    "SimulatedUno",
    "build_arduino_core",
    "build_bridge",
    "build_uno_firmware",
    "find_uno_firmware",
    "simavr_available",
]
