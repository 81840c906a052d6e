"""The report command: offline HTML, every figure, 3-D view, footprint, bad input, headless Chromium render."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from tinygmm.cli import main
from tinygmm.codegen.header import render_header
from tinygmm.data.reader import load_csv
from tinygmm.fit.estimator import model_of_fit
from tinygmm.fit.sweep import FitOptions, fit
from tinygmm.model.exported import ExportedModel
from tinygmm.report.footprint import footprint

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "customers.csv"
AGE, INCOME, SCORE = "Age", "Annual Income (k$)", "Spending Score (1-100)"
THREE = f"{AGE},{INCOME},{SCORE}"
TWO = f"{AGE},{SCORE}"


def report(out: Path, *args: str) -> int:
    return main(["report", "--out", str(out), *args])


@pytest.fixture(scope="module")
def report3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three features, K chosen by BIC from a fresh sweep."""
    out = tmp_path_factory.mktemp("r3")
    assert report(out, "--data", str(DEMO), "--features", THREE, "--max-components", "8", "--random-state", "42") == 0
    return out


@pytest.fixture(scope="module")
def report2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two features, from a fixed-K exported model JSON (so the sweep is re-run for the plots)."""
    tmp = tmp_path_factory.mktemp("r2")
    code = main(
        [
            "export",
            "--data",
            str(DEMO),
            "--features",
            TWO,
            "--n-components",
            "4",
            "--max-components",
            "6",
            "--header",
            str(tmp / "GMM.h"),
            "--json",
            str(tmp / "GMM.json"),
            "--vectors",
            "none",
        ]
    )
    assert code == 0
    assert report(tmp / "out", "--json", str(tmp / "GMM.json")) == 0
    return tmp / "out"


def html(out: Path) -> str:
    return (out / "index.html").read_text(encoding="utf-8")


def pngs(out: Path) -> set[str]:
    return {p.name for p in out.glob("*.png")}


# ---- offline ---------------------------------------------------------------------------------------
def test_html_has_no_external_reference(report3: Path) -> None:
    text = html(report3)
    # The inlined plotly.js bundle carries URLs and HTML snippets in its own strings: check the page around
    # it (script bodies emptied, their opening tags kept so that a src= attribute would still be seen).
    page = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", text, flags=re.S | re.I)
    assert len(text) - len(page) > 1_000_000  # plotly.js is embedded, not fetched
    tags = re.findall(r"<(script|link|img|iframe|source|video|audio|embed|object)\b([^>]*)>", page, re.I)
    assert {t.lower() for t, _ in tags} == {"script", "img"}
    for tag, attrs in tags:
        for attr, value in re.findall(r"\b(src|href|data)\s*=\s*[\"']([^\"']*)[\"']", attrs, re.I):
            assert value.startswith("data:"), f"<{tag} {attr}={value[:60]!r}> is not a data: URI"
    assert all("src=" not in attrs.lower() for tag, attrs in tags if tag.lower() == "script")
    for href in re.findall(r"<a\b[^>]*\bhref\s*=\s*[\"']([^\"']*)", page, re.I):
        assert href.startswith("#"), href
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", page, re.S | re.I))
    assert styles
    for target in re.findall(r"url\(\s*['\"]?([^'\")]*)", styles):
        assert target.startswith("data:"), target
    for pattern in ("http://", "https://", "//cdn"):
        assert pattern not in page, pattern


# ---- figures ---------------------------------------------------------------------------------------
EXPECTED_3 = {"features.png", "pairs.png", "selection_ic.png", "selection_lrt.png", "clusters.png"}


def test_every_plot_written_and_embedded(report3: Path) -> None:
    import matplotlib.image

    assert pngs(report3) == EXPECTED_3
    text = html(report3)
    for name in sorted(EXPECTED_3):
        data = (report3 / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
        img = matplotlib.image.imread(report3 / name)
        assert img.shape[0] > 300 and img.shape[1] > 500 and float(np.std(img[..., :3])) > 0.05, name
        m = re.search(r'<img src="data:image/png;base64,([^"]+)"[^>]*data-file="' + re.escape(name) + '"', text)
        assert m, f"{name} not embedded"
        assert base64.b64decode(m.group(1)) == data, f"{name}: embedded copy differs from the file"


def test_selection_section(report3: Path) -> None:
    text = html(report3)
    assert "2·(LL(K) − LL(K−1))" in text and "approximate" in text and "regularity" in text
    assert "◀ reported model" in text
    crit = chi2.ppf(0.95, 10)  # D=3 full: 10 more free parameters per component
    assert f"<td>{crit:.2f}</td>" in text


def test_3d_view_only_with_three_features(report3: Path, report2: Path) -> None:
    t3, t2 = html(report3), html(report2)
    assert 'id="view3d"' in t3 and "scatter3d" in t3 and "Plotly.newPlot" in t3
    assert 'id="view3d"' not in t2 and "scatter3d" not in t2 and "<script" not in t2
    assert pngs(report2) == EXPECTED_3


def test_json_report_reuses_model_and_reruns_fixed_k_sweep(report2: Path) -> None:
    text = html(report2)
    m = ExportedModel.load(report2.parent / "GMM.json")
    assert m.model_hash in text and "K = 4 (fixed by --n-components)" in text
    assert "re-run" in text
    assert all(f"<td>{k}</td>" in text for k in range(1, 7))  # sweep 1..max_components


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_footprint_counts_header_floats(cov: str) -> None:
    data = load_csv(DEMO, [AGE, INCOME, SCORE])
    options = FitOptions(n_components=3, covariance_type=cov, scaler="standard")
    m = model_of_fit(fit(data, options), data, options.as_dict())
    body = render_header(m, ["test"]).split("namespace detail {")[1].split("struct Model")[0]
    floats = re.findall(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?f\b", body)
    declared = re.findall(r"static (?:const|constexpr) (\w+) \w+\[(\d+)\]", body)
    fp = footprint(m)
    assert fp.float_count == len(floats) == sum(int(n) for t, n in declared if t == "float")
    assert fp.constant_bytes == sum(int(n) * {"float": 4, "uint8_t": 1, "int32_t": 4}[t] for t, n in declared)
    assert fp.stack_bytes > 4 * (m.n_features + m.n_components)


def test_footprint_section_labels_estimates(report3: Path) -> None:
    text = html(report3)
    assert "Estimates, not measurements" in text and "PROGMEM" in text and "ESP32" in text


# ---- reduced reports and bad input -----------------------------------------------------------------
def test_single_feature_gives_1d_plot(tmp_path: Path) -> None:
    out = tmp_path / "r1"
    out.mkdir()
    (out / "clusters.png").write_bytes(b"stale")  # from an earlier, 2-D report in the same folder
    assert report(out, "--data", str(DEMO), "--features", SCORE, "--max-components", "5") == 0
    assert pngs(out) == {"features.png", "selection_ic.png", "selection_lrt.png", "clusters_1d.png"}
    text = html(out)
    assert 'data-file="clusters_1d.png"' in text and "pair plot needs at least two features" in text
    assert 'id="view3d"' not in text
    first = (out / "clusters_1d.png").read_bytes()
    assert report(out, "--data", str(DEMO), "--features", SCORE, "--max-components", "5") == 0
    assert (out / "clusters_1d.png").read_bytes() == first  # deterministic


def test_k_equals_one(tmp_path: Path) -> None:
    out = tmp_path / "k1"
    args = ["--data", str(DEMO), "--features", TWO, "--n-components", "1", "--max-components", "1"]
    assert report(out, *args, "--scaler", "standard") == 0
    assert pngs(out) == {"features.png", "pairs.png", "selection_ic.png", "clusters.png"}
    text = html(out)
    assert "no likelihood-ratio step" in text and "K = 1: a single Gaussian" in text
    assert "standard-scaled" in text and "raw feature units" in text


def test_plot_features_choose_the_2d_axes(tmp_path: Path) -> None:
    out = tmp_path / "pf"
    assert (
        report(
            out,
            "--data",
            str(DEMO),
            "--features",
            THREE,
            "--max-components",
            "3",
            "--plot-features",
            f"{SCORE},{INCOME}",
        )
        == 0
    )
    assert f'alt="clusters on {SCORE} and {INCOME}"' in html(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--data", str(DEMO), "--features", TWO, "--plot-features", f"{AGE},Height"],
            "'Height' is not a model feature",
        ),
        (["--data", str(DEMO), "--features", AGE, "--plot-features", f"{AGE},{SCORE}"], "needs two features"),
        (["--data", str(DEMO), "--features", TWO, "--plot-features", AGE], "two different feature names"),
        (["--data", str(DEMO), "--features", ""], "empty column name"),
        (["--data", str(DEMO), "--features", "Gender"], "is not numeric"),
        (["--features", TWO], "needs --data CSV"),
        (["--json", "missing.json"], "model file not found"),
    ],
)
def test_bad_input_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert report(tmp_path / "bad", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinygmm: error:") and message in err[0], err
    assert not (tmp_path / "bad").exists()


def test_json_with_missing_data_is_clear(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "include" / "GMM.json").read_text())
    doc["data"]["path"] = "nowhere/data.csv"
    (tmp_path / "m.json").write_text(json.dumps(doc))
    r = subprocess.run(
        [sys.executable, "-m", "tinygmm", "report", "--json", "m.json", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "training data 'nowhere/data.csv' was not found; pass --data" in r.stderr


# ---- renders in a real browser ------------------------------------------------------------------
def test_headless_chromium_renders_report(report3: Path, tmp_path: Path) -> None:
    import matplotlib.image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install chromium; scripts/test.sh does)")
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        (report3 / "index.html").resolve().as_uri(),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-2000:]
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1200)
    colours = np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50 and float(np.std(img)) > 0.05, "screenshot is (nearly) blank"
