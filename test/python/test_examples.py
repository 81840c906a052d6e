"""The examples: a PlatformIO project consuming the library, and an Arduino IDE sketch.

The Arduino builds use Debian's avr-gcc and arduino-core-avr (as test_avr_build.py does), and
link the whole core, so a sketch that would not fit or link on an Uno fails here. The
PlatformIO build runs where PlatformIO's platforms are installed, and is skipped otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
PIO_EXAMPLE = ROOT / "examples" / "platformio"
LIBRARY = ROOT / "lib" / "tinygmm"
SKETCH = LIBRARY / "examples" / "GmmClassifier"
ARDUINO = Path("/usr/share/arduino/hardware/arduino/avr")
MCU = ["-mmcu=atmega328p", "-DF_CPU=16000000L", "-Os", "-ffunction-sections", "-fdata-sections"]
CORE_FLAGS = [
    *MCU,
    "-DARDUINO=10819",
    "-DARDUINO_AVR_UNO",
    "-DARDUINO_ARCH_AVR",
    "-I",
    str(ARDUINO / "cores" / "arduino"),
    "-I",
    str(ARDUINO / "variants" / "standard"),
]
STRICT = ["-std=gnu++11", "-Wall", "-Wextra", "-Werror"]
UNO_FLASH = 32256  # 32 KiB less the 512-byte bootloader
UNO_SRAM = 2048


def tinygmm(*args: str, cwd: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def arduino_core(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Debian's Arduino AVR core, compiled as the IDE would (objects to link a sketch with)."""
    require_tool("avr-g++")
    if not (ARDUINO / "cores" / "arduino" / "Arduino.h").is_file():
        pytest.skip("Debian's arduino-core-avr is not installed (apt-get install arduino-core-avr)")
    out = tmp_path_factory.mktemp("core")
    objects = []
    for src in sorted((ARDUINO / "cores" / "arduino").iterdir()):
        if src.suffix == ".c":
            cmd = ["avr-gcc", *CORE_FLAGS, "-std=gnu11"]
        elif src.suffix == ".cpp":  # gcc 5.4's <float.h> has no DECIMAL_DIG for C++ (WString.cpp uses it)
            cmd = ["avr-g++", *CORE_FLAGS, "-std=gnu++11", "-fno-exceptions", "-DDECIMAL_DIG=__DECIMAL_DIG__"]
        elif src.suffix == ".S":
            cmd = ["avr-gcc", *CORE_FLAGS, "-x", "assembler-with-cpp"]
        else:
            continue
        obj = out / (src.name + ".o")
        subprocess.run([*cmd, "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
        objects.append(obj)
    return objects


def link_for_uno(objects: list[Path], elf: Path) -> tuple[int, int]:
    """(flash, sram) bytes of the linked firmware."""
    subprocess.run(["avr-g++", *MCU, "-Wl,--gc-sections", *map(str, objects), "-o", str(elf)], check=True)
    out = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text + data, data + bss


def compile_library(tmp: Path) -> Path:
    obj = tmp / "tinygmm_protocol.o"
    src = LIBRARY / "src" / "tinygmm_protocol.cpp"
    cmd = ["avr-g++", *CORE_FLAGS, *STRICT, "-I", str(LIBRARY / "src"), "-c", str(src), "-o", str(obj)]
    subprocess.run(cmd, check=True)
    return obj


# ---- (b) the Arduino IDE sketch ------------------------------------------------------


def test_arduino_sketch_builds_for_uno_with_an_exported_header(arduino_core: list[Path], tmp_path: Path) -> None:
    sketch = tmp_path / "GmmClassifier"
    shutil.copytree(SKETCH, sketch)
    features = "Age,Spending Score (1-100)"
    data = str(ROOT / "data" / "customers.csv")
    tinygmm("export", "--data", data, "--features", features, "--n-components", "4", "--header",
            "GmmClassifier/GMM.h", "--json", "GmmClassifier/GMM.json", "--vectors", "none", cwd=tmp_path)  # fmt: skip
    # as the IDE does: the .ino is C++ with Arduino.h first; libraries' src/ on the include path
    obj = tmp_path / "sketch.o"
    cmd = ["avr-g++", *CORE_FLAGS, *STRICT, "-I", str(sketch), "-I", str(LIBRARY / "src"), "-x", "c++"]
    subprocess.run([*cmd, "-include", "Arduino.h", "-c", str(sketch / "GmmClassifier.ino"), "-o", str(obj)], check=True)
    flash, sram = link_for_uno([obj, compile_library(tmp_path), *arduino_core], tmp_path / "sketch.elf")
    print(f"\nGmmClassifier on an Uno: flash {flash} B, static SRAM {sram} B")
    assert flash < UNO_FLASH and sram < UNO_SRAM // 2


def test_sketch_folder_and_library_properties_follow_arduino_rules() -> None:
    """arduino-lint's rules that can be checked offline (Library Manager, specification mode)."""
    sketches = sorted(p for p in (LIBRARY / "examples").iterdir() if p.is_dir())
    assert [p.name for p in sketches] == ["GmmClassifier", "LearnNormal"]
    for sketch in sketches:
        assert [p.name for p in sketch.glob("*.ino")] == [sketch.name + ".ino"]  # the folder names the sketch
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", sketch.name)
    text = (LIBRARY / "library.properties").read_text(encoding="utf-8")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    required = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures")
    assert all(props.get(k, "").strip() for k in required), props
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}", props["name"]) and not props["name"].startswith("Arduino")
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"])
    categories = {
        "Display",
        "Communication",
        "Signal Input/Output",
        "Sensors",
        "Device Control",
        "Timing",
        "Data Storage",
        "Data Processing",
        "Other",
    }
    assert props["category"] in categories
    assert not props["paragraph"].startswith(props["sentence"])  # the paragraph must not repeat the sentence
    assert re.match(r"https?://", props["url"])
    for header in props["includes"].split(","):
        assert (LIBRARY / "src" / header.strip()).is_file()
    # recursive layout (1.5 format): code only in src/, no legacy utility/ folder, no .development flag
    assert not list(LIBRARY.glob("*.cpp")) and not list(LIBRARY.glob("*.h"))
    assert not (LIBRARY / "utility").exists() and not (LIBRARY / ".development").exists()


# ---- (a) the PlatformIO project ------------------------------------------------------


@pytest.fixture(scope="module")
def example_headers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """GMM.h for the example's environments, from its platformio.ini (as the hook would write them)."""
    out = tmp_path_factory.mktemp("example")
    ini = str(PIO_EXAMPLE / "platformio.ini")
    headers = {}
    for env in ("native", "uno"):
        (out / env).mkdir()
        tinygmm("export", "--platformio", ini, "--env", env, "--header", f"{env}/GMM.h", "--json", f"{env}/GMM.json",
                "--vectors", "none", cwd=out)  # fmt: skip
        headers[env] = out / env / "GMM.h"
    return headers


def test_example_data_regenerates_byte_for_byte(tmp_path: Path) -> None:
    shutil.copytree(PIO_EXAMPLE / "data", tmp_path / "data")
    (tmp_path / "data" / "machine.csv").unlink()
    subprocess.run([sys.executable, "data/make_sensor_data.py"], cwd=tmp_path, check=True)
    assert (tmp_path / "data" / "machine.csv").read_bytes() == (PIO_EXAMPLE / "data" / "machine.csv").read_bytes()


def test_example_native_classifies_the_simulated_sensor(example_headers: dict[str, Path], tmp_path: Path) -> None:
    gxx = require_tool("g++")
    exe = tmp_path / "program"
    inc = ["-I", str(example_headers["native"].parent), "-I", str(LIBRARY / "src")]
    sources = [str(PIO_EXAMPLE / "src" / "main.cpp"), str(LIBRARY / "src" / "tinygmm_protocol.cpp")]
    subprocess.run([gxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", *inc, *sources, "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], input="INFO\n48,2.5\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    readings = re.findall(r"-> component (\d) \((\w+|\?), p=[\d.]+\); simulated (\w+)", r.stderr)
    assert len(readings) == 40
    assert {state for _, _, state in readings} == {"idle", "running", "fault"}
    right = sum(seen == state for _, seen, state in readings)
    assert right >= 38, r.stderr  # the three states are well apart: nearly every reading is right
    lines = r.stdout.splitlines()
    assert lines[0].startswith("READY tinygmm ")
    assert lines[1].startswith("INFO protocol=2 components=3 features=2 ")
    assert lines[1].endswith(" names=temperature|vibration")
    running = next(int(k) for k, _, state in readings if state == "running")
    assert lines[2].startswith(f"OK {running} ")


def test_example_arduino_branch_builds_for_uno(
    example_headers: dict[str, Path], arduino_core: list[Path], tmp_path: Path
) -> None:
    assert "COVARIANCE_TYPE = tinygmm::COV_DIAG;" in example_headers["uno"].read_text()  # [env:uno] overrides it
    obj = tmp_path / "main.o"
    inc = ["-I", str(example_headers["uno"].parent), "-I", str(LIBRARY / "src")]
    subprocess.run(["avr-g++", *CORE_FLAGS, *STRICT, *inc, "-c", str(PIO_EXAMPLE / "src" / "main.cpp"), "-o", str(obj)],
                   check=True)  # fmt: skip
    flash, sram = link_for_uno([obj, compile_library(tmp_path), *arduino_core], tmp_path / "example.elf")
    print(f"\nPlatformIO example on an Uno: flash {flash} B, static SRAM {sram} B")
    assert flash < UNO_FLASH and sram < UNO_SRAM // 2


@pytest.mark.parametrize("env", ["native", "uno"])
def test_example_builds_with_platformio(tmp_path: Path, env: str) -> None:
    """`pio run` in a copy of the example: the library's hook writes the env's header, the build uses it."""
    from test_pio import missing_for, pio_command, run_pio

    reason = missing_for([env], needs_unity=False)  # the example has no Unity tests
    if reason:
        pytest.skip(reason)
    cmd = pio_command()
    assert cmd is not None
    project = tmp_path / "example"
    shutil.copytree(PIO_EXAMPLE, project, ignore=shutil.ignore_patterns(".pio"))
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text().replace("symlink://../../lib/tinygmm", f"symlink://{LIBRARY}"))
    r = run_pio(cmd, project, "run", "-e", env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "warning" not in out.lower(), out[-6000:]
    build = project / ".pio" / "build" / env
    header = build / "tinygmm" / "GMM.h"
    assert header.is_file() and not (project / "include").exists()
    if env == "native":
        run = subprocess.run([str(build / "program")], input="INFO\n", capture_output=True, text=True, timeout=30)
        assert re.search(r"^INFO protocol=2 components=3 features=2 .* names=temperature\|vibration$", run.stdout, re.M)
    else:
        assert "COVARIANCE_TYPE = tinygmm::COV_DIAG;" in header.read_text()
        print("\n" + "; ".join(re.findall(r"^(?:RAM|Flash):.*$", out, re.M)))
    again = run_pio(cmd, project, "run", "-e", env)
    assert again.returncode == 0 and "is up to date" in again.stdout + again.stderr
    # with a broken data file, the targets that compile nothing still work (IDEs call metadata)
    (project / "data" / "machine.csv").write_text("temperature,vibration\n")
    meta = run_pio(cmd, project, "project", "metadata", "-e", env, "--json-output")
    assert meta.returncode == 0, meta.stdout[-3000:] + meta.stderr[-3000:]
    assert str(build / "tinygmm") in meta.stdout  # the header's folder is on the IDE's include path
    broken = run_pio(cmd, project, "run", "-e", env)
    assert broken.returncode != 0 and "has a header but no data rows" in broken.stdout + broken.stderr
    assert header.is_file()  # the previous header is kept
    clean = run_pio(cmd, project, "run", "-e", env, "-t", "clean")
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
