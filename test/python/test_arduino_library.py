"""The library for the Arduino IDE: `tinygmm library --zip`, its metadata, and every example built.

The zip is what "Sketch > Include Library > Add .ZIP Library..." takes. Debian's arduino-builder
(the build tool of Arduino IDE 1.8) compiles each example of the unpacked zip from a sketchbook's
libraries/ for an Uno, as the IDE would. Debian's arduino-core-avr 1.8.7 needs one fix for its gcc
5.4 (WString.cpp uses DECIMAL_DIG, which that gcc's <float.h> only has as __DECIMAL_DIG__ in
C++), made in a copy of the core in a temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, require_tool
from tinygmm.errors import TinyGMMError
from tinygmm.platformio.pack import checkout_root

LIBRARY = ROOT / "lib" / "tinygmm"
CORE = Path("/usr/share/arduino/hardware/arduino/avr")  # Debian's arduino-core-avr
BUILDER_PLATFORM = Path("/usr/share/arduino-builder/platform.txt")  # ctags recipe of Debian's arduino-builder
KEYWORD_KINDS = {"KEYWORD1", "KEYWORD2", "KEYWORD3", "LITERAL1", "LITERAL2"}
# how lib/tinygmm/examples/GmmClassifier/GMM.h was made (from the repository root)
EXAMPLE_EXPORT = ["--data", "data/customers.csv", "--features", "Age,Spending Score (1-100)", "--n-components", "4"]


def tinygmm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True)


def properties(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


@pytest.fixture(scope="module")
def library_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zip")
    r = tinygmm("library", "--zip", str(out), cwd=out)
    assert r.returncode == 0, r.stderr
    version = json.loads((LIBRARY / "library.json").read_text())["version"]
    path = out / f"tinygmm-{version}.zip"
    assert r.stdout.splitlines() == [f"tinygmm: wrote {path} (Arduino IDE: Sketch > Include Library > Add .ZIP)"]
    return path


def test_zip_is_one_library_folder_with_metadata_code_and_examples(library_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(library_zip) as zf:
        names = zf.namelist()
        props = properties(zf.read("tinygmm/library.properties").decode())
    assert {n.split("/")[0] for n in names} == {"tinygmm"}
    expected = ["library.properties", "keywords.txt"] + [
        p.relative_to(LIBRARY).as_posix() for d in ("src", "examples") for p in sorted((LIBRARY / d).rglob("*"))
        if p.is_file()
    ]  # fmt: skip
    assert sorted(names) == sorted("tinygmm/" + n for n in expected)
    assert not any(n.endswith((".py", ".whl", "library.json")) for n in names)  # the IDE runs no Python
    assert props["name"] == "tinygmm"
    again = tinygmm("library", "--zip", str(tmp_path / "again.zip"), cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "again.zip").read_bytes() == library_zip.read_bytes()


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing/tinygmm.zip", "does not exist"), ("tinygmm.tar", "name it *.zip")],
)
def test_zip_refuses_a_bad_target_in_one_line(tmp_path: Path, target: str, message: str) -> None:
    r = tinygmm("library", "--zip", target, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_pack_needs_a_checkout(tmp_path: Path) -> None:
    copy = tmp_path / "site-packages" / "tinygmm" / "library"
    shutil.copytree(LIBRARY, copy)
    with pytest.raises(TinyGMMError, match="needs a tinygmm checkout"):
        checkout_root(copy)


def test_library_properties_are_complete_and_agree_with_library_json() -> None:
    props = properties((LIBRARY / "library.properties").read_text(encoding="utf-8"))
    fields = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url")
    assert all(props.get(k, "").strip() for k in (*fields, "architectures", "includes")), props
    manifest = json.loads((LIBRARY / "library.json").read_text())
    assert props["name"] == manifest["name"] and props["version"] == manifest["version"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{props["version"]}"' in pyproject  # the library carries this package's wheel
    for header in props["includes"].split(","):
        assert (LIBRARY / "src" / header.strip()).is_file()


def test_keywords_name_things_the_library_or_a_generated_header_defines() -> None:
    lines = [ln for ln in (LIBRARY / "keywords.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    sources = [*(LIBRARY / "src").glob("*"), ROOT / "include" / "GMM.h", *(ROOT / "scripts" / "tinygmm").rglob("*.py")]
    code = "".join(p.read_text() for p in sources)  # the generators write the model constants
    for line in lines:
        word, kind = line.split("\t")  # the IDE reads KEYWORD<TAB>KIND
        assert kind in KEYWORD_KINDS, line
        assert re.search(rf"\b{re.escape(word)}\b", code), f"{word} is not defined by the library or GMM.h"
    assert {"LineProtocolWith", "classify", "N_FEATURES"} <= {ln.split("\t")[0] for ln in lines}


def test_each_example_is_a_folder_named_after_its_sketch() -> None:
    examples = sorted(p for p in (LIBRARY / "examples").iterdir() if p.is_dir())
    assert examples, "the library has no example"
    for ex in examples:
        assert [p.name for p in ex.glob("*.ino")] == [ex.name + ".ino"]
    listed = json.loads((LIBRARY / "library.json").read_text())["examples"]
    assert sorted(e["base"] for e in listed) == [f"examples/{p.name}" for p in examples]


def test_the_example_header_is_what_tinygmm_export_makes(tmp_path: Path) -> None:
    """The demo GMM.h beside the example is current (same runtime, generator and model)."""
    r = tinygmm("export", *EXAMPLE_EXPORT, "--header", str(tmp_path / "GMM.h"), "--json", str(tmp_path / "GMM.json"),
                "--vectors", "none", cwd=ROOT)  # fmt: skip
    assert r.returncode == 0, r.stderr

    def body(text: str) -> list[str]:  # without the lines naming tool versions and the generator's fingerprint
        return [ln for ln in text.splitlines() if not ln.startswith(("// tinygmm 0.", "// tinygmm-inputs:"))]

    committed = LIBRARY / "examples" / "GmmClassifier" / "GMM.h"
    made = body((tmp_path / "GMM.h").read_text())
    assert body(committed.read_text()) == made, (
        "lib/tinygmm/examples/GmmClassifier/GMM.h is stale; from the repository root run: tinygmm export "
        + " ".join(f'"{a}"' if " " in a else a for a in EXAMPLE_EXPORT)
        + " --header lib/tinygmm/examples/GmmClassifier/GMM.h --json /tmp/GMM.json --vectors none"
    )


@pytest.fixture(scope="module")
def sketchbook(library_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(hardware folder with the patched core, sketchbook with the zip unpacked into libraries/)."""
    require_tool("arduino-builder")
    require_tool("avr-g++")
    if not (CORE / "cores" / "arduino" / "Arduino.h").is_file() or not BUILDER_PLATFORM.is_file():
        pytest.skip("Debian's arduino-core-avr and arduino-builder are needed (apt-get install arduino-builder)")
    base = tmp_path_factory.mktemp("arduino")
    hardware = base / "hardware"
    shutil.copytree(CORE, hardware / "arduino" / "avr")
    shutil.copy(BUILDER_PLATFORM, hardware / "platform.txt")  # the IDE's global platform: ctags
    wstring = hardware / "arduino" / "avr" / "cores" / "arduino" / "WString.cpp"
    wstring.write_text(re.sub(r"\bDECIMAL_DIG\b", "__DECIMAL_DIG__", wstring.read_text()))
    libraries = base / "sketchbook" / "libraries"
    libraries.mkdir(parents=True)
    with zipfile.ZipFile(library_zip) as zf:
        zf.extractall(libraries)
    return hardware, base / "sketchbook"


def test_arduino_builder_compiles_every_example_of_the_zip_for_an_uno(
    sketchbook: tuple[Path, Path], tmp_path: Path
) -> None:
    hardware, book = sketchbook
    examples = sorted((book / "libraries" / "tinygmm" / "examples").iterdir())
    assert examples
    for example in examples:
        build = tmp_path / example.name
        build.mkdir()
        cmd = ["arduino-builder", "-compile", "-hardware", str(hardware), "-tools", str(hardware),
               "-libraries", str(book / "libraries"), "-fqbn", "arduino:avr:uno", "-build-path", str(build),
               "-core-api-version", "10819", "-warnings", "all", str(example / f"{example.name}.ino")]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-4000:]
        ours = [ln for ln in out.splitlines() if "warning" in ln and "/cores/arduino/" not in ln]
        assert not ours, "\n".join(ours)  # the core's own warnings are not ours
        flash = re.search(r"Sketch uses (\d+) bytes .* Maximum is (\d+) bytes", out)
        ram = re.search(r"Global variables use (\d+) bytes .* Maximum is (\d+) bytes", out)
        assert flash and ram, out[-2000:]
        assert int(flash.group(1)) < int(flash.group(2)) and int(ram.group(1)) < int(ram.group(2)) // 2
        assert (build / f"{example.name}.ino.hex").is_file()
        print(f"\n{example.name} on an Uno (arduino-builder): flash {flash.group(1)} B, RAM {ram.group(1)} B")


@pytest.mark.parametrize("example", sorted(p.name for p in (LIBRARY / "examples").iterdir()))
def test_each_example_builds_with_platformio_ci_for_an_uno(example: str, tmp_path: Path) -> None:
    """`pio ci --board uno --lib lib/tinygmm <example>`: the example as a PlatformIO user builds it."""
    from test_pio import missing_for, output, pio_command, run_pio

    reason = missing_for(["uno"], needs_unity=False)
    if reason:
        pytest.skip(reason)
    cmd = pio_command()
    assert cmd is not None
    build = tmp_path / "build"
    r = run_pio(cmd, tmp_path, "ci", "--board", "uno", "--lib", str(LIBRARY), "--build-dir", str(build),
                "--keep-build-dir", str(LIBRARY / "examples" / example))  # fmt: skip
    out = output(r)
    assert r.returncode == 0, out[-4000:]
    assert not [ln for ln in out.splitlines() if "warning" in ln.lower() and "framework-arduino" not in ln], out
    assert re.search(r"^RAM:.*used \d+ bytes from 2048 bytes", out, re.M), out[-2000:]
    assert (build / ".pio" / "build" / "uno" / "firmware.hex").is_file()
    print("\n" + "; ".join(re.findall(r"^(?:RAM|Flash):.*$", out, re.M)))
