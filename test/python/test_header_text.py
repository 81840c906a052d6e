"""Issue 15, items 1, 2 and 10: no user text reaches the generated C++ unescaped.

Feature names, the data path and the namespace are written into GMM.h and
the golden vectors header (comments, string literals, identifiers). Each test
exports through ``python -m tinygmm export`` with hostile text, then either
compiles and runs the headers (g++ and clang++, C++11 to C++20, -Wall -Wextra
-Werror -pedantic, two models in one program) or expects one clear error line
with the previous outputs untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_tool
from tinygmm.cli import main
from tinygmm.codegen.ctext import c_comment, c_string, check_finite_code, check_identifier
from tinygmm.errors import TinyGMMError
from tinygmm.model.exported import ExportedModel

# Column names that are hostile in C++ comments and strings, and still legal CSV names.
HOSTILE_NAMES = [
    "a??=b",  # '#' under trigraphs (-std=c++11)
    'say "hi"',
    "x*/y/*z",
    'R"(raw)" e\'f',
    "nan",
    "INFINITY",
    "#error from a name",
    "c??/",  # trigraph backslash at the end of a line comment
    "b\\",  # backslash at the end of a line comment: would swallow the next line
]
# A data path with a line break (an #error line if pasted raw), a folder under inf/,
# a right-to-left override (-Wbidi-chars), non-ASCII letters and a trailing backslash.
HOSTILE_DIRS = ["inf", "evil\n#error injected by the data path\n", "donn\u00e9es \u202eright-to-left", "end\\"]
HOSTILE_FILE = "sensor-nan??=.csv"

CASES = [
    ("g++", "c++11"),
    ("g++", "c++14"),
    ("g++", "c++17"),
    ("g++", "c++20"),
    ("clang++", "c++11"),
    ("clang++", "c++14"),
    ("clang++", "c++17"),
    ("clang++", "c++20"),
]
POINTS = np.array([[0.0] * len(HOSTILE_NAMES), [8.0] * len(HOSTILE_NAMES), [3.0, -1.0] * 4 + [5.0]])


def csv_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def export(tmp: Path, data: Path, out: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygmm",
            "export",
            "--data",
            str(data),
            "--header",
            f"{out}/GMM.h",
            "--json",
            f"{out}/GMM.json",
            "--vectors",
            f"{out}/golden.h",
            "--n-components",
            "2",
            *args,
        ],
        cwd=tmp,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three models from one hostile CSV: namespaces gmm, Gmm (differ only in case) and inf."""
    tmp = tmp_path_factory.mktemp("hostile")
    folder = tmp.joinpath(*HOSTILE_DIRS)
    folder.mkdir(parents=True)
    data = folder / HOSTILE_FILE
    rng = np.random.default_rng(5)
    d = len(HOSTILE_NAMES)
    X = np.round(np.vstack([rng.normal(0, 1, (40, d)), rng.normal(8, 1, (40, d))]), 4)
    data.write_text(
        ",".join(map(csv_quote, HOSTILE_NAMES)) + "\n" + "".join(",".join(map(repr, r)) + "\n" for r in X.tolist())
    )
    for ns in ("gmm", "Gmm", "inf"):
        r = export(tmp, data, ns, "--namespace", ns, *(["--fixed-point"] if ns == "inf" else []))
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
    return tmp


def generated_part(header: str) -> str:
    """The header without the pasted runtime (which is our own, fixed text)."""
    start, end = "// ---- runtime: verbatim copy", "// ---- end of runtime ----"
    return header[: header.index(start)] + header[header.index(end) :]


def test_generated_text_is_plain_ascii_without_splices_or_trigraphs(hostile: Path) -> None:
    for ns in ("gmm", "Gmm", "inf"):
        for name in ("GMM.h", "golden.h"):
            raw = (hostile / ns / name).read_bytes()
            assert max(raw) < 0x80, f"{ns}/{name} has non-ASCII bytes"
            text = generated_part(raw.decode()) if name == "GMM.h" else raw.decode()
            assert "??" not in text, f"{ns}/{name}: a trigraph can form"
            for line in text.splitlines():
                assert not line.rstrip().endswith("\\"), f"{ns}/{name}: line splice in {line!r}"
                assert not line.startswith("#error"), f"{ns}/{name}: injected line {line!r}"
            # every preprocessor line is one the generator wrote
            directives = {line.split()[0] for line in text.splitlines() if line.startswith("#")}
            assert directives <= {"#if", "#ifndef", "#define", "#else", "#endif", "#include"}, directives
        doc = json.loads((hostile / ns / "GMM.json").read_text())
        assert doc["feature_names"] == HOSTILE_NAMES  # the JSON keeps the names exactly


def test_comments_show_the_data_path_escaped(hostile: Path) -> None:
    header = (hostile / "gmm" / "GMM.h").read_text()
    line = next(x for x in header.splitlines() if x.startswith("// data: "))
    assert "evil\\n#error injected by the data path\\n" in line
    assert "donn\\xe9es \\u202eright-to-left" in line
    assert "sensor-nan?\\?=.csv sha256=" in line
    features = next(x for x in header.splitlines() if x.startswith("// features: "))
    assert features.endswith("c?\\?/, b\\x5c")


def test_two_models_in_one_program_all_compilers_and_standards(hostile: Path, tmp_path: Path) -> None:
    """gmm, Gmm and inf in one program (the include guards encode the namespace exactly);
    FEATURE_NAMES reads back the names byte for byte; predict equals scikit-learn."""
    src = tmp_path / "two.cpp"
    rows = ", ".join("{" + ", ".join(f"{float(v)!r}f" for v in p) + "}" for p in POINTS)
    src.write_text(
        '#include <stdio.h>\n#include "gmm/GMM.h"\n#include "Gmm/GMM.h"\n#include "inf/GMM.h"\n#include "gmm/GMM.h"\n'
        f"static const float P[{len(POINTS)}][{POINTS.shape[1]}] = {{{rows}}};\n"
        "int main() {\n"
        '  printf("%s\\n%s\\n%s\\n", gmm::FEATURE_NAMES, Gmm::FEATURE_NAMES, inf::FEATURE_NAMES);\n'
        f"  for (int i = 0; i < {len(POINTS)}; ++i)\n"
        '    printf("%d %d %d %d\\n", gmm::predict(P[i]), Gmm::predict(P[i]), inf::predict(P[i]), inf::predict_q(P[i]));\n'
        "  return 0;\n}\n"
    )
    models = {ns: ExportedModel.load(hostile / ns / "GMM.json") for ns in ("gmm", "Gmm", "inf")}
    expected = [
        "|".join(HOSTILE_NAMES),
        "|".join(HOSTILE_NAMES),
        "|".join(HOSTILE_NAMES),
        *(
            " ".join(
                str(int(models[ns].to_sklearn().predict(models[ns].transform(p[None]))[0]))
                for ns in ("gmm", "Gmm", "inf", "inf")
            )
            for p in POINTS
        ),
    ]
    for cxx, std in CASES:
        exe = tmp_path / f"two-{cxx}-{std}"
        cc = require_tool(cxx)
        r = subprocess.run(
            [
                cc,
                f"-std={std}",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-I",
                str(hostile),
                str(src),
                "-o",
                str(exe),
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, f"{cxx} -std={std}:\n{r.stderr[-3000:]}"
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
        assert out == expected, f"{cxx} -std={std}"


def test_golden_vectors_compile_with_hostile_provenance(hostile: Path, tmp_path: Path) -> None:
    src = tmp_path / "vec.cpp"
    src.write_text('#include "golden.h"\nint main() { return golden::N_FEATURES == gmm::N_FEATURES ? 0 : 1; }\n')
    for cxx, std in (("g++", "c++11"), ("clang++", "c++11")):
        cc = require_tool(cxx)
        exe = tmp_path / f"vec-{cxx}"
        flags = [f"-std={std}", "-Wall", "-Wextra", "-Werror", "-pedantic"]
        subprocess.run([cc, *flags, "-I", str(hostile / "gmm"), str(src), "-o", str(exe)], check=True)
        assert subprocess.run([str(exe)]).returncode == 0


# --------------------------------------------------------------------------
# Refused with one line, before any fitting, nothing written
# --------------------------------------------------------------------------

PREVIOUS = {"GMM.h": b"// previous header\n", "GMM.json": b"{}\n", "golden.h": b"// previous vectors\n"}


def prepare(tmp: Path, header: str = "a,b") -> list[str]:
    (tmp / "out").mkdir()
    for name, content in PREVIOUS.items():
        (tmp / "out" / name).write_bytes(content)
    rng = np.random.default_rng(0)
    X = np.round(np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))]), 3)
    (tmp / "d.csv").write_text(header + "\n" + "".join(f"{x!r},{y!r}\n" for x, y in X.tolist()), encoding="utf-8")
    out = tmp / "out"
    return ["export", "--data", str(tmp / "d.csv"), "--header", str(out / "GMM.h"), "--json", str(out / "GMM.json")] + [
        "--vectors",
        str(out / "golden.h"),
        "--n-components",
        "2",
    ]


def assert_refused(tmp: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("tinygmm: error: "), err
    assert message in lines[0], lines[0]
    for name, content in PREVIOUS.items():
        assert (tmp / "out" / name).read_bytes() == content
    assert sorted(p.name for p in (tmp / "out").iterdir()) == sorted(PREVIOUS)
    return lines[0]


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the export gets as far as fitting."""
    import tinygmm.export.requests

    def fit(*_a: object, **_k: object) -> None:
        raise AssertionError("the export fitted a model before refusing its input")

    monkeypatch.setattr(tinygmm.export.requests, "fit", fit)


BAD_NAMESPACES = {
    "class": "a C++ keyword",
    "int": "a C++ keyword",
    "and": "a C++ keyword",
    "xor_eq": "a C++ keyword",
    "co_await": "a C++ keyword",
    "my-model": "not an identifier",
    "9lives": "not an identifier",
    "gmm model": "not an identifier",
    "": "not an identifier",
    "caf\u00e9": "not an identifier",
    "_Gmm": "reserved for the compiler",
    "_gmm": "reserved for the compiler",
    "a__b": "reserved for the compiler",
    "exp": "already define",
    "y0": "already define",
    "NAN": "already define",
    "M_PI": "a <math.h> constant macro",
    "UINT8_MAX": "a <stdint.h> macro",
    "model_t": "ending in _t",
    "tinygmm": "already define",
    "golden": "already define",
    "std": "already define",
    "main": "already define",
    "TINYGMM_FLASH": "a macro of the generated header",
    "B101": "Arduino",
    "select": "C library headers",
}


@pytest.mark.parametrize(("namespace", "reason"), BAD_NAMESPACES.items(), ids=[repr(n) for n in BAD_NAMESPACES])
def test_bad_namespace_refused_before_fitting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_fit: None, namespace: str, reason: str
) -> None:
    argv = prepare(tmp_path) + ["--namespace", namespace]
    line = assert_refused(tmp_path, capsys, argv, f"invalid C++ namespace {namespace!r} for --namespace: it is ")
    assert reason in line


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a\x01b", "control character U+0001"),
        ("tab\tin", "control character U+0009"),
        ("del\x7f", "control character U+007F"),
        ("ne\x85l", "control character U+0085"),  # C1 (at an end, str.strip() takes it as blank)
        ("line\u2028sep", "line break U+2028"),
        ("a|b", "contains '|'"),
    ],
)
def test_names_that_cannot_be_carried_are_refused_before_fitting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_fit: None, name: str, why: str
) -> None:
    """Any text is a name (test_unicode_names.py) except what a protocol line cannot carry."""
    argv = prepare(tmp_path, header=f"a,{csv_quote(name)}")
    line = assert_refused(tmp_path, capsys, argv, f"column name {name!r} ")
    assert why in line and "rename it" in line


def test_non_ascii_data_path_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only what the device must send is refused: a non-ASCII path just appears escaped."""
    argv = prepare(tmp_path)
    data = tmp_path / "d\u00e9j\u00e0 \u0394.csv"
    os.rename(tmp_path / "d.csv", data)
    argv[argv.index("--data") + 1] = str(data)
    assert main(argv) == 0, capsys.readouterr().err
    assert "d\\xe9j\\xe0 \\u0394.csv" in (tmp_path / "out" / "GMM.h").read_text()


# --------------------------------------------------------------------------
# The helpers themselves
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "plain", "a??=b", "???/", "b\\", "\\\\", '"', "\n\r\t\0\x7f", "\u00e9\u202e\U0001f600", "tab\tend\\  "]
)
def test_c_string_round_trips_through_the_compiler(tmp_path: Path, text: str) -> None:
    """What the compiled program prints is exactly the UTF-8 of the text (trigraphs on)."""
    cxx = require_tool("g++")
    literal = c_string(text)
    assert all(" " <= ch <= "~" for ch in literal)
    src = tmp_path / "s.cpp"
    src.write_text(
        f"#include <stdio.h>\n// {c_comment(text)}\nstatic const char S[] = {literal};\n"
        "int main() { fwrite(S, 1, sizeof S - 1, stdout); return 0; }\n"
    )
    exe = tmp_path / "s"
    subprocess.run(
        [cxx, "-std=c++11", "-trigraphs", "-Wall", "-Wextra", "-Werror", str(src), "-o", str(exe)], check=True
    )
    assert subprocess.run([str(exe)], capture_output=True, check=True).stdout == text.encode("utf-8")


def test_c_comment_never_continues_the_line() -> None:
    for text in ["b\\", "b\\ ", "b\\\t", "x??/", "a\nb", "a\rb", "\u2028", "end\\\\"]:
        out = c_comment(text)
        assert "\n" not in out and "\r" not in out and "??" not in out
        assert not out.rstrip().endswith("\\"), out
        assert all(" " <= ch <= "~" for ch in out)


def test_nan_inf_found_in_code_not_in_comments_or_strings() -> None:
    ok = [
        '// data: inf/sensor-nan.csv\nstatic const char N[] = "nan|INFINITY|inf";\nstatic const float A[1] = {1.5f};\n',
        "/* nan inf */ namespace inf { static const float X = 3.4e38f; }\nint f() { return inf::N; }\n",
        "static const char c = 'n'; static const double D = 1e300;\n",
    ]
    for code in ok:
        check_finite_code(code)
    bad = [
        "static const float A[2] = {1.0f, nan};\n",
        "static const float A[2] = {1.0f, -inf};\n",
        "static const float B = INFINITY;\n",
        "static const float B = HUGE_VALF;\n",
        "static const float C = 1e39f;\n",
        "static const double C = 1e999;\n",
    ]
    for code in bad:
        with pytest.raises(TinyGMMError):
            check_finite_code(code)


def test_every_name_that_breaks_the_header_is_refused(tmp_path: Path) -> None:
    """Ask the installed compilers: every identifier GMM.h's includes declare either compiles as
    the namespace, or check_identifier refuses it (scripts/make_c_names.py generated the list)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_c_names as gen
    finally:
        sys.path.pop(0)
    checked = 0
    toolchains = [("g++", ["-std=c++11"]), ("g++", ["-std=gnu++17"]), ("clang++", ["-std=c++20"])]
    toolchains += [t for t in gen.TOOLCHAINS if t[0] == "avr-g++"]  # avr-libc, and Arduino.h when installed
    for cxx, flags in toolchains:
        if shutil.which(cxx) is None:
            continue
        accepted = []
        for name in sorted(gen.candidates(cxx, flags, tmp_path)):
            try:
                check_identifier(name)
            except TinyGMMError:
                continue
            accepted.append(name)
        assert len(accepted) > 10  # gmm-like names that really are free
        broken = gen.colliding(cxx, flags, accepted + ["gmm", "Gmm", "inf", "sensor_model"], tmp_path)
        assert not broken, f"{cxx} {flags}: accepted as --namespace but do not compile: {sorted(broken)}"
        checked += len(accepted)
    if checked == 0:
        pytest.skip("no C++ compiler installed")


def test_header_lines_that_mention_a_name_stay_comments(hostile: Path) -> None:
    """Preprocess the header: no line of user text survives outside a comment or string."""
    cxx = require_tool("g++")
    pp = subprocess.run(
        [cxx, "-std=c++11", "-E", "-P", "-x", "c++", str(hostile / "gmm" / "GMM.h")], capture_output=True, text=True
    )
    assert pp.returncode == 0, pp.stderr
    assert "injected" not in pp.stdout and "from a name" not in re.sub(r'"(?:\\.|[^"\\])*"', "", pp.stdout)
