"""Regenerate scripts/tinygmm/codegen/cnames.py: names that cannot be a model's --namespace, and C macros.

A namespace at global scope fails to compile when GMM.h's includes (<math.h>,
<stdint.h>, <avr/pgmspace.h>; in C++ <math.h> also brings <stdlib.h>; and Arduino.h, which
the firmware includes beside it) already
declare that name as a function, variable, type or macro. This script asks the
compilers themselves: it lists every identifier those headers declare or
define, compiles a probe namespace for each one with every installed compiler
and standard, and writes the names that failed anywhere (beyond the ones
tinygmm.codegen.ctext refuses by rule: keywords, reserved names, names ending in _t).

    python3 scripts/make_c_names.py           # needs g++; clang++ and avr-g++ when installed

test/python/test_header_text.py runs the same probe to check that the list
still covers the installed toolchain.

It also lists every macro (not reserved: no leading '_', no '__') that the C and POSIX headers
a sketch or test is likely to include beside ours define (<limits.h>, <stdio.h>, <stdlib.h>,
<math.h>, <string.h>, <stdint.h>; on AVR <avr/io.h> and <avr/pgmspace.h>; Arduino.h): no public
name of tinygmm (runtime, protocol, device glue, generated header) may be one of them, since a
macro rewrites every later token of that name (LINE_MAX from <limits.h> broke the device glue
once). test/python/test_macro_names.py compiles our headers with all of them defined.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "tinygmm" / "codegen" / "cnames.py"

TOOLCHAINS = [
    ("g++", ["-std=c++11"]),
    ("g++", ["-std=gnu++11"]),
    ("g++", ["-std=c++20"]),
    ("clang++", ["-std=c++11"]),
    ("clang++", ["-std=c++20"]),
    ("avr-g++", ["-std=gnu++11", "-mmcu=atmega328p"]),
]
ARDUINO = Path("/usr/share/arduino/hardware/arduino/avr")  # Debian's arduino-core-avr
if (ARDUINO / "cores/arduino/Arduino.h").is_file():
    TOOLCHAINS.append(
        (
            "avr-g++",
            ["-std=gnu++11", "-mmcu=atmega328p", "-DF_CPU=16000000L", "-DARDUINO=10819"]
            + ["-I", str(ARDUINO / "cores/arduino"), "-I", str(ARDUINO / "variants/standard")],
        )
    )


def includes(cxx: str, flags: list[str]) -> str:
    extra = "#include <avr/pgmspace.h>\n" if cxx.startswith("avr-") else ""
    if any("cores/arduino" in f for f in flags):
        extra += "#include <Arduino.h>\n"  # the firmware includes it beside GMM.h
    return "#include <math.h>\n#include <stdint.h>\n" + extra


MACRO_HEADERS = ("limits.h", "stdio.h", "stdlib.h", "math.h", "string.h", "stdint.h")


def macro_includes(cxx: str, flags: list[str]) -> str:
    text = "".join(f"#include <{h}>\n" for h in MACRO_HEADERS)
    if cxx.startswith("avr-"):
        text += "#include <avr/io.h>\n#include <avr/pgmspace.h>\n"
    if any("cores/arduino" in f for f in flags):
        text += "#include <Arduino.h>\n"
    return text


def macros(cxx: str, flags: list[str], work: Path) -> set[str]:
    """The macros these headers define with this compiler (names a program may use: not reserved)."""
    src = work / "macros.cpp"
    src.write_text(macro_includes(cxx, flags))
    dm = subprocess.run([cxx, *flags, "-dM", "-E", str(src)], capture_output=True, text=True, check=True).stdout
    names = set(re.findall(r"^#define ([A-Za-z]\w*)", dm, re.M))
    return {n for n in names if "__" not in n}


def candidates(cxx: str, flags: list[str], work: Path) -> set[str]:
    """Every non-reserved identifier the includes mention, and every macro they define."""
    src = work / "inc.cpp"
    src.write_text(includes(cxx, flags))
    pp = subprocess.run([cxx, *flags, "-E", "-P", str(src)], capture_output=True, text=True, check=True).stdout
    dm = subprocess.run([cxx, *flags, "-dM", "-E", str(src)], capture_output=True, text=True, check=True).stdout
    names = set(re.findall(r"\b[A-Za-z_]\w*\b", pp)) | set(re.findall(r"#define (\w+)", dm))
    return {n for n in names if not n.startswith("_") and "__" not in n}


def probe_source(cxx: str, flags: list[str], names: list[str]) -> tuple[str, int]:
    """One namespace per name, used as the generated header's namespace is; and the line of the first."""
    head = includes(cxx, flags)
    lines = [
        f"namespace {n} {{ static const int N = 1; inline int f(const float* x) {{ return N + (x != 0); }} }} "
        f"int use_{n}(const float* x) {{ return {n}::f(x) + {n}::N; }}"
        for n in names
    ]
    return head + "\n".join(lines) + "\n", head.count("\n")


def colliding(cxx: str, flags: list[str], names: list[str], work: Path) -> set[str]:
    """The names whose probe namespace does not compile."""
    text, first = probe_source(cxx, flags, names)
    src = work / "probe.cpp"
    src.write_text(text)
    limit = ["-ferror-limit=0"] if "clang" in cxx else ["-fmax-errors=0"]
    r = subprocess.run([cxx, *flags, "-fsyntax-only", "-w", *limit, str(src)], capture_output=True, text=True)
    bad = set()
    for m in re.finditer(r"probe\.cpp:(\d+):\d+: (?:error:|note: in expansion of macro)", r.stderr):
        line = int(m.group(1)) - first - 1
        if 0 <= line < len(names):
            bad.add(names[line])
    if r.returncode != 0 and not bad:
        raise RuntimeError(f"{cxx} probe failed without a line number:\n{r.stderr[:2000]}")
    return bad


def frozenset_source(name: str, words: set[str]) -> str:
    body = textwrap.fill(" ".join(sorted(words)), width=112, initial_indent="    ", subsequent_indent="    ")
    return f'{name} = frozenset(\n    """\n{body}\n    """.split()  # noqa: SIM905\n)\n'


def main() -> int:
    sys.path.insert(0, str(HERE))
    from tinygmm.codegen.ctext import refused_by_rule

    found: set[str] = set()
    found_macros: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for cxx, flags in TOOLCHAINS:
            if shutil.which(cxx) is None:
                print(f"skipped {cxx}: not installed")
                continue
            found_macros |= macros(cxx, flags, work)
            names = sorted(n for n in candidates(cxx, flags, work) if not refused_by_rule(n))
            bad: set[str] = set()
            while True:  # an error can hide the next lines' errors: probe the rest again
                more = colliding(cxx, flags, [n for n in names if n not in bad], work)
                if not more:
                    break
                bad |= more
            print(f"{cxx} {' '.join(flags)}: {len(names)} names, {len(bad)} collide")
            found |= bad
    OUT.write_text(
        '"""Names our C++ must leave alone (generated by scripts/make_c_names.py; do not edit).\n\n'
        "C_LIBRARY_NAMES: names GMM.h's includes already declare (a namespace of that name does not compile).\n"
        "C_MACRO_NAMES: macros of the C, POSIX, avr-libc and Arduino headers (see make_c_names.py).\n"
        '"""\n\n' + frozenset_source("C_LIBRARY_NAMES", found) + "\n" + frozenset_source("C_MACRO_NAMES", found_macros)
    )
    print(f"wrote {OUT} ({len(found)} names, {len(found_macros)} macros)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
