"""The firmware compiles for the ATmega328P with Debian's avr-g++, warnings as errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
ARDUINO = Path("/usr/share/arduino/hardware/arduino/avr")
AVR_FLAGS = ["-mmcu=atmega328p", "-DF_CPU=16000000L", "-Os", "-std=gnu++11", "-Wall", "-Wextra", "-Werror"]
INCLUDES = ["-I", str(ROOT / "include"), "-I", str(ROOT / "lib" / "tinygmm" / "src")]


def test_protocol_library_compiles_for_avr(tmp_path: Path) -> None:
    avr = require_tool("avr-g++")
    obj = tmp_path / "tinygmm_protocol.o"
    subprocess.run(
        [avr, *AVR_FLAGS, *INCLUDES, "-c", str(ROOT / "lib/tinygmm/src/tinygmm_protocol.cpp"), "-o", str(obj)],
        check=True,
    )
    size = subprocess.run(["avr-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    data = int(next(line.split()[1] for line in size.splitlines() if line.startswith(".data")))
    assert data == 0, f"protocol strings must stay in flash (PSTR), found .data:\n{size}"


def test_device_glue_and_library_link_for_avr(tmp_path: Path) -> None:
    """lib + GMM.h + tinygmm_device.h, driven by a bare-metal main, links with no model data in SRAM."""
    avr = require_tool("avr-g++")
    main = tmp_path / "main.cpp"
    main.write_text(
        '#include "tinygmm_device.h"\n'
        "static volatile char sink;\n"
        "static void out(void*, const char* d, size_t n) { while (n--) sink = *d++; }\n"
        "int main() {\n"
        "  tinygmm_device::Protocol p(tinygmm_device::MODEL, out, 0);\n"
        "  p.begin();\n"
        '  p.feed("19,39\\nINFO\\n", 11);\n'
        "  return 0;\n"
        "}\n"
    )
    elf = tmp_path / "fw.elf"
    subprocess.run(
        [avr, *AVR_FLAGS, *INCLUDES, str(main), str(ROOT / "lib/tinygmm/src/tinygmm_protocol.cpp"), "-o", str(elf)],
        check=True,
    )
    assert elf.stat().st_size > 0


def test_arduino_main_compiles_against_debian_arduino_core(tmp_path: Path) -> None:
    avr = require_tool("avr-g++")
    if not (ARDUINO / "cores" / "arduino" / "Arduino.h").is_file():
        pytest.skip("Debian's arduino-core-avr is not installed (apt-get install arduino-core-avr)")
    arduino = [
        "-DARDUINO=10819",
        "-DARDUINO_AVR_UNO",
        "-DARDUINO_ARCH_AVR",
        "-I",
        str(ARDUINO / "cores" / "arduino"),
        "-I",
        str(ARDUINO / "variants" / "standard"),
    ]
    subprocess.run(
        [avr, *AVR_FLAGS, *arduino, *INCLUDES, "-c", str(ROOT / "src" / "main.cpp"), "-o", str(tmp_path / "main.o")],
        check=True,
    )
