"""The QEMU targets of test/qemu: compilers, flags, memory maps, and how to build and run the runner.

Used by test_qemu.py and scripts/bench/run.py. Each target is a real MCU core
(or its nearest QEMU board) built with Debian's bare-metal toolchains:

* Cortex-M0  (-M microbit, nRF51): soft float, as the RP2040 and SAMD21;
* Cortex-M4F (-M mps2-an386): -mfloat-abi=hard, GCC's default FMA contraction, as the Uno R4 / Nano 33 BLE;
* Cortex-M33 (-M mps2-an505): FPv5 single precision, hard float, FMA contraction;
* RV32IMC    (-M virt): soft float, as the ESP32-C3;
* Xtensa lx106 (-M sim -cpu lx106): soft float, the ESP8266's core; Debian's libgcc for it lacks the
  float and division routines (the ESP8266 has them in ROM): test/qemu/xtensa_rt.c supplies them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

QEMU_DIR = Path(__file__).resolve().parents[2] / "test" / "qemu"
RUN_TIMEOUT = 120  # seconds of wall time for one runner (they need well under ten)
CXX_FLAGS = [
    "-Os",
    "-std=gnu++11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-exceptions",
    "-fno-rtti",
    "-fno-threadsafe-statics",
]


@dataclass(frozen=True)
class Target:
    name: str
    cc: str  # the C driver (it compiles the C++ sources with -x c++ and links without libstdc++)
    size: str
    flags: tuple[str, ...]
    libs: tuple[str, ...]
    qemu: str
    machine: tuple[str, ...]
    memory: tuple[int, int, int, int]  # flash, flash size, RAM, RAM size
    soft_float: bool  # no FPU: results bit-exact with the host's soft-float build
    packages: str  # Debian packages that provide cc (and its libc) and qemu
    board: str  # what the target stands for
    icount_shift: int  # QEMU -icount shift: 2^shift ns per instruction, >= 1 counter tick each
    counter_hz: float | None = None  # the counter's clock (SysTick: the core clock); None: counts instructions
    runtime: tuple[str, ...] = ()  # C files in test/qemu linked in, for what the toolchain's libgcc lacks

    def ticks_per_instruction(self) -> float:
        """What qemu_io.h's counter() advances per executed instruction under -icount."""
        return 1.0 if self.counter_hz is None else self.counter_hz * 2.0**self.icount_shift / 1e9

    def missing(self) -> str | None:
        """Why this target cannot run here, or None."""
        for tool in (self.cc, self.qemu):
            if shutil.which(tool) is None:
                return f"{tool} not installed (Debian: apt-get install {self.packages}; scripts/test.sh does)"
        return None

    def link_flags(self) -> list[str]:
        flash, flash_size, ram, ram_size = self.memory
        syms = {"__flash": flash, "__flash_size": flash_size, "__ram": ram, "__ram_size": ram_size}
        return [
            "-nostartfiles",
            f"-T{QEMU_DIR / 'link.ld'}",
            *[f"-Wl,--defsym={k}={v:#x}" for k, v in syms.items()],
            "-Wl,--gc-sections",
        ]


ARM_LIBS = ("--specs=nano.specs", "--specs=nosys.specs", "-lm")
PICOLIBC = ("--specs=picolibc.specs",)

TARGETS = [
    Target(
        "cortex-m0",
        "arm-none-eabi-gcc",
        "arm-none-eabi-size",
        ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"),
        ARM_LIBS,
        "qemu-system-arm",
        ("-M", "microbit"),
        (0x0, 0x40000, 0x20000000, 0x4000),
        True,
        "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
        "RP2040 / SAMD21 (Cortex-M0+, no FPU)",
        6,
        16e6,  # QEMU's nRF51 core clock
    ),
    Target(
        "cortex-m4f",
        "arm-none-eabi-gcc",
        "arm-none-eabi-size",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
        ARM_LIBS,
        "qemu-system-arm",
        ("-M", "mps2-an386"),
        (0x0, 0x400000, 0x20000000, 0x400000),
        False,
        "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
        "Uno R4 (RA4M1), Nano 33 BLE (nRF52840)",
        6,
        25e6,  # MPS2 SYSCLK
    ),
    Target(
        "cortex-m33",
        "arm-none-eabi-gcc",
        "arm-none-eabi-size",
        ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
        ARM_LIBS,
        "qemu-system-arm",
        ("-M", "mps2-an505"),
        (0x10000000, 0x400000, 0x38000000, 0x200000),
        False,
        "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
        "RP2350, nRF5340, STM32U5 (Cortex-M33 with FPU)",
        6,
        20e6,  # MPS2+ AN505 SYSCLK
    ),
    Target(
        "rv32imc",
        "riscv64-unknown-elf-gcc",
        "riscv64-unknown-elf-size",
        ("-march=rv32imc", "-mabi=ilp32", "-mcmodel=medany", "-mno-relax", "-Wl,--no-relax", *PICOLIBC),
        ("-lm",),
        "qemu-system-riscv32",
        ("-M", "virt", "-bios", "none"),
        (0x80000000, 0x100000, 0x80100000, 0x40000),
        True,
        "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc",
        "ESP32-C3 (RV32IMC, no FPU)",
        0,
    ),
    Target(
        "xtensa-lx106",
        "xtensa-lx106-elf-gcc",
        "xtensa-lx106-elf-size",
        ("-mlongcalls", "--specs=/usr/lib/xtensa-lx106-elf/picolibc.specs"),  # not on gcc's search path
        ("-Wl,--start-group", "-lc", "-lm", "-lgcc", "-Wl,--end-group"),
        "qemu-system-xtensa",
        ("-M", "sim", "-cpu", "lx106"),
        (0x40000000, 0x80000, 0x40080000, 0x40000),
        True,
        "gcc-xtensa-lx106 picolibc-xtensa-lx106-elf qemu-system-misc",
        "ESP8266 (Xtensa lx106, no FPU)",
        6,
        40e6,  # QEMU's lx106 core clock (CCOUNT)
        ("xtensa_rt.c",),  # float and division routines: on the ESP8266 they are in ROM
    ),
]
BY_NAME = {t.name: t for t in TARGETS}


def build(t: Target, sources: list[Path], includes: list[Path], out: Path, extra: list[str] | None = None) -> Path:
    """Compile and link C++ sources and object files (plus startup.cpp) for t; raise with the
    compiler's message on failure."""
    cpp = [s for s in sources if s.suffix != ".o"]
    objects = [s for s in sources if s.suffix == ".o"]
    for name in t.runtime:
        obj = out.parent / f"{Path(name).stem}-{t.name}.o"
        cmd = [
            t.cc,
            "-x",
            "c",
            "-std=gnu11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            *t.flags,
            "-c",
            str(QEMU_DIR / name),
        ]
        r = subprocess.run([*cmd, "-o", str(obj)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"build failed: {' '.join(cmd)}\n{r.stderr}")
        objects.append(obj)
    cmd = [
        t.cc,  # the C driver, compiling C++: no libstdc++ (picolibc has none), none needed
        "-x",
        "c++",
        *CXX_FLAGS,
        *t.flags,
        *(extra or []),
        *[f"-I{p}" for p in [*includes, QEMU_DIR]],
        *map(str, [*cpp, QEMU_DIR / "startup.cpp"]),
        "-x",
        "none",
        *map(str, objects),
        *t.link_flags(),
        *t.libs,
        "-o",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"build failed: {' '.join(cmd)}\n{r.stderr}")
    return out


def run(t: Target, elf: Path, timeout: float = RUN_TIMEOUT) -> list[str]:
    """Run elf under QEMU until it exits through semihosting; its output lines."""
    cmd = [
        t.qemu,
        *t.machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-nic",
        "none",  # no default network card (and so no option ROM to find)
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        f"shift={t.icount_shift},align=off,sleep=off",
        "-kernel",
        str(elf),
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{t.name}: QEMU did not finish within {timeout} s: {' '.join(cmd)}") from e
    # QEMU writes the semihosting console to its stderr
    text = (r.stdout + r.stderr).decode("latin-1")
    if r.returncode != 0:
        raise RuntimeError(f"{t.name}: QEMU exited with {r.returncode}:\n{text[-2000:]}")
    return text.splitlines()


def section_sizes(t: Target, elf: Path) -> dict[str, int]:
    """Section name -> bytes (size -A)."""
    out = subprocess.run([t.size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    return {m[0]: int(m[1]) for m in re.findall(r"^(\.[\w.]+)\s+(\d+)", out, re.M)}


def code_size(t: Target, elf: Path) -> int:
    """Bytes in flash: code, constants and initialised data."""
    sec = section_sizes(t, elf)
    return sec.get(".text", 0) + sec.get(".ARM.exidx", 0) + sec.get(".data", 0)
