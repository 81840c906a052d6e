"""Our C++ names are safe from the macros of the C, POSIX, avr-libc and Arduino headers.

A macro rewrites every later token of its name, wherever it is declared: `LINE_MAX` (POSIX, from
<limits.h>, which Unity includes) once broke the device glue's `static const uint16_t LINE_MAX`.
scripts/make_c_names.py lists every such macro (tinygmm.codegen.cnames.C_MACRO_NAMES, from `-dM -E` with
g++, avr-g++ and Arduino.h). Here our headers (runtime, protocol, device glue and generated
headers) are compiled with *every* one of those macros defined as a stray token, so a name of
ours that is one of them stops the compile and is named.
"""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_tool
from tinygmm.codegen.cnames import C_MACRO_NAMES
from tinygmm.codegen.ctext import check_identifier
from tinygmm.errors import TinyGMMError

LIB_SRC = ROOT / "lib" / "tinygmm" / "src"
# (not tinygmm_firmware.h: a program, with main() on a host and setup()/loop() under the Arduino core)
OURS = [*sorted(p for p in LIB_SRC.glob("*.h") if p.name != "tinygmm_firmware.h"), LIB_SRC / "tinygmm_protocol.cpp"]
SYSTEM = ("limits.h", "stdio.h", "stdlib.h", "math.h", "string.h", "stdint.h")
COMPILERS = {
    "g++": ["-std=c++11"],
    "avr-g++": ["-std=gnu++11", "-mmcu=atmega328p", "-DF_CPU=16000000L"],
}
MACRO_NOTE = re.compile(r"in expansion of macro '(\w+)'")
ERROR_AT = re.compile(r"^([^\s:][^:]*):(\d+):(\d+): error:", re.M)


def conditional_names(paths: list[Path]) -> set[str]:
    """Names our files test with #if/#ifdef/#ifndef: uses of a macro, on purpose."""
    names: set[str] = set()
    for p in paths:
        for line in p.read_text().splitlines():
            if re.match(r"\s*#\s*(if|ifdef|ifndef|elif)\b", line):
                names |= set(re.findall(r"[A-Za-z_]\w*", line))
    return names


ARDUINO = Path("/usr/share/arduino/hardware/arduino/avr")  # Debian's arduino-core-avr


def system_includes(cxx: str) -> tuple[str, list[str]]:
    """The C headers (and on AVR avr-libc's and, where installed, Arduino.h), and the flags they need."""
    text = "".join(f"#include <{h}>\n" for h in SYSTEM)
    flags = list(COMPILERS[cxx])
    if cxx.startswith("avr-"):
        text += "#include <avr/io.h>\n#include <avr/pgmspace.h>\n"
        if (ARDUINO / "cores" / "arduino" / "Arduino.h").is_file():  # the firmware includes it beside GMM.h
            text += "#include <Arduino.h>\n"
            core = ["-I", str(ARDUINO / "cores" / "arduino"), "-I", str(ARDUINO / "variants" / "standard")]
            flags += ["-DARDUINO=10819", *core]
    return text, flags


def library_identifiers(cxx: str, tmp: Path) -> set[str]:
    """Identifiers these headers declare as functions, types or variables on this compiler (e.g. expf
    with glibc, a macro in avr-libc): our code may call them, so they are not poisoned."""
    text, flags = system_includes(cxx)
    src = tmp / "system.cpp"
    src.write_text(text)
    pp = subprocess.run([cxx, *flags, "-E", "-P", str(src)], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"[A-Za-z_]\w*", pp))


def poisoned_source(cxx: str, includes: list[Path], tmp: Path, extra: str = "") -> str:
    """The C headers, then every listed macro they did not define as a stray token, then our files."""
    skip = conditional_names(includes) | library_identifiers(cxx, tmp)
    lines = [system_includes(cxx)[0]]
    for name in sorted(C_MACRO_NAMES - skip):
        lines.append(f"#ifndef {name}\n#define {name} @{name}@\n#endif")
    lines += [f'#include "{p}"' for p in includes]
    return "\n".join(lines) + "\n" + extra


def compile_poisoned(cxx: str, includes: list[Path], tmp: Path, extra: str = "", inc: Path | None = None) -> set[str]:
    """Macro names our code ran into (empty: it compiled)."""
    src = tmp / "poisoned.cpp"
    src.write_text(poisoned_source(cxx, includes, tmp, extra))
    flags = ["-I", str(LIB_SRC), "-I", str(inc or ROOT / "include"), "-fsyntax-only", "-fmax-errors=0"]
    env = {**os.environ, "LC_ALL": "C"}  # plain quotes in the notes
    r = subprocess.run([cxx, *system_includes(cxx)[1], *flags, str(src)], capture_output=True, text=True, env=env)
    hit = set(MACRO_NOTE.findall(r.stderr))
    for m in ERROR_AT.finditer(r.stderr):  # a system macro's error points at the token it replaced
        try:
            line = Path(m.group(1)).read_text().splitlines()[int(m.group(2)) - 1]
        except (OSError, IndexError):
            continue
        word = re.match(r"[A-Za-z_]\w*", line[int(m.group(3)) - 1 :])
        if word and word.group() in C_MACRO_NAMES:
            hit.add(word.group())
    assert r.returncode == 0 or hit, r.stderr[-3000:]
    return hit


def export_header(tmp: Path, columns: list[str], *extra: str) -> Path:
    """A small model exported to tmp/GMM.h from two well-separated clusters."""
    rng = random.Random(7)
    data = tmp / "data.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for i in range(200):
            c = 5.0 * (i % 2)
            w.writerow([f"{c + rng.gauss(0, 1):.4f}" for _ in columns])
    cmd = [sys.executable, "-m", "tinygmm", "export", "--data", str(data), "--n-components", "2", "--header",
           str(tmp / "GMM.h"), "--json", str(tmp / "GMM.json"), "--vectors", "none", *extra]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return tmp / "GMM.h"


def test_the_macro_list_has_the_ones_that_bit_us() -> None:
    """The generated list holds POSIX, C, avr-libc and Arduino macros (make_c_names.py ran with each)."""
    assert {"LINE_MAX", "PATH_MAX", "CHAR_BIT", "BUFSIZ", "EOF", "RAND_MAX", "INT8_MAX", "M_PI"} <= C_MACRO_NAMES
    if Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h").is_file():
        assert {"DEC", "HEX", "B101", "PORTB", "min", "max", "abs", "round", "F", "LED_BUILTIN"} <= C_MACRO_NAMES
    assert not any(n.startswith("_") or "__" in n for n in C_MACRO_NAMES)  # reserved names are not ours anyway


@pytest.mark.parametrize("cxx", sorted(COMPILERS))
def test_our_headers_compile_with_every_listed_macro_defined(cxx: str, tmp_path: Path) -> None:
    """Runtime, protocol, device glue with the committed GMM.h, and a fixed-point + anomaly header."""
    require_tool(cxx)
    hit = compile_poisoned(cxx, OURS, tmp_path)
    assert not hit, f"{cxx}: our names collide with C/POSIX/Arduino macros: {sorted(hit)}"
    gen = tmp_path / "gen"
    gen.mkdir()
    header = export_header(gen, ["x", "y"], "--fixed-point", "--anomaly-quantile", "0.01")
    assert "ANOMALY_THRESHOLD" in header.read_text()
    hit = compile_poisoned(cxx, [header, LIB_SRC / "tinygmm_device.h"], tmp_path, inc=gen)
    assert not hit, f"{cxx}: the generated header collides with C/POSIX/Arduino macros: {sorted(hit)}"


def test_the_poisoned_compile_names_a_colliding_name(tmp_path: Path) -> None:
    """The check above can fail: a declaration named like a macro is caught and named."""
    require_tool("g++")
    bad = "namespace mine { static const unsigned LINE_MAX = 80; inline int DEC() { return 10; } }\n"
    assert compile_poisoned("g++", OURS, tmp_path, extra=bad) == {"LINE_MAX", "DEC"}


def test_every_macro_is_refused_as_a_namespace() -> None:
    refused = 0
    for name in sorted(C_MACRO_NAMES):
        with pytest.raises(TinyGMMError, match="invalid C\\+\\+ namespace"):
            check_identifier(name)
        refused += 1
    assert refused == len(C_MACRO_NAMES) > 500


def test_export_refuses_a_macro_namespace_in_one_line_writing_nothing(tmp_path: Path) -> None:
    data = ROOT / "data" / "customers.csv"
    cmd = [sys.executable, "-m", "tinygmm", "export", "--data", str(data), "--features", "Age,Spending Score (1-100)",
           "--n-components", "2", "--namespace", "LINE_MAX", "--header", "GMM.h", "--json", "GMM.json"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'LINE_MAX'" in lines[0] and "macro" in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cxx", sorted(COMPILERS))
def test_feature_names_that_are_macros_stay_strings(cxx: str, tmp_path: Path) -> None:
    """Feature names only reach string literals: columns called LINE_MAX, min or DEC compile anywhere."""
    require_tool(cxx)
    gen = tmp_path / "gen"
    gen.mkdir()
    header = export_header(gen, ["LINE_MAX", "min", "DEC"])
    text = header.read_text()
    assert 'FEATURE_NAMES[] TINYGMM_FLASH = "LINE_MAX|min|DEC";' in text
    hit = compile_poisoned(cxx, [header, LIB_SRC / "tinygmm_device.h"], tmp_path, inc=gen)
    assert not hit, sorted(hit)
