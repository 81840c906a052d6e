"""Size of the generated header's model constants, and rough per-target memory estimates.

The constants are counted exactly from what ``codegen.device_arrays`` emits; the
per-target flash/SRAM figures are estimates (runtime code and call frames are
compiler-dependent) and are labelled as such wherever they are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..codegen.records import device_arrays
from ..model.exported import ExportedModel

FLOAT_BYTES = 4
_ARRAY_RE = re.compile(r"static (?:const|constexpr) (\w+) (\w+)\[(\d+)\]")
C_SIZES = {"float": 4, "uint8_t": 1, "int8_t": 1, "uint16_t": 2, "int16_t": 2, "uint32_t": 4, "int32_t": 4}
# Locals besides the arrays (loop counters, best index, sum, ...) and saved
# registers / return addresses of the three nested calls: a guess, not a measurement.
FRAME_OVERHEAD_BYTES = 48


@dataclass(frozen=True)
class Target:
    name: str
    flash_bytes: int  # usable program memory
    sram_bytes: int  # data memory the stack estimate is compared with
    sram_label: str
    constants_where: str


TARGETS = (
    Target(
        "Arduino Uno (ATmega328P)",
        32256,  # 32 KiB minus the 512-byte Optiboot bootloader
        2048,
        "of 2 KiB SRAM",
        "flash, via PROGMEM (read with pgm_read_float)",
    ),
    Target(
        "ESP32 (e.g. ESP32-DevKitC, 4 MB flash)",
        1310720,  # default 1.25 MiB app partition
        8192,  # Arduino-ESP32 loopTask stack
        "of the 8 KiB Arduino loop() task stack",
        "flash (.rodata, memory-mapped), no SRAM copy",
    ),
)


@dataclass(frozen=True)
class Footprint:
    arrays: list[tuple[str, str, int, int]]  # (C name, C type, elements, bytes)
    float_count: int  # elements of the float arrays
    constant_bytes: int  # bytes of every model array (floats x 4 plus any small integer tables)
    string_bytes: int  # FEATURE_NAMES and MODEL_HASH, with their NULs
    stack_bytes: int  # estimated peak stack of classify()
    stack_parts: list[tuple[str, int]]

    @property
    def flash_bytes(self) -> int:
        return self.constant_bytes + self.string_bytes


def footprint(m: ExportedModel) -> Footprint:
    """Size every array ``codegen.device_arrays`` defines; estimate the stack of one classify() call."""
    arrays: list[tuple[str, str, int, int]] = []
    for text in device_arrays(m).arrays:
        for ctype, name, count in _ARRAY_RE.findall(text):
            n = int(count)
            arrays.append((name, ctype, n, n * C_SIZES.get(ctype, FLOAT_BYTES)))
    floats = sum(n for _, ctype, n, _ in arrays if ctype == "float")
    names = "|".join(m.feature_names).encode("utf-8")
    strings = len(names) + 1 + len(m.model_hash) + 1
    d, k = m.n_features, m.n_components
    parts = [
        (f"float[D] copy of the transformed input (D = {d})", FLOAT_BYTES * d),
        (f"float proba[K] (caller's probabilities, K = {k})", FLOAT_BYTES * k),
    ]
    if m.covariance_type == "full":
        parts.append((f"float d[D] in full_log_prob (D = {d})", FLOAT_BYTES * d))
    parts.append(("float log-likelihood", FLOAT_BYTES))
    parts.append(("scalars, saved registers, return addresses (guess)", FRAME_OVERHEAD_BYTES))
    return Footprint(
        arrays=arrays,
        float_count=floats,
        constant_bytes=sum(b for *_, b in arrays),
        string_bytes=strings,
        stack_bytes=sum(n for _, n in parts),
        stack_parts=parts,
    )
