"""CSV -> fit -> model JSON, C++ header and golden vectors, written atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .atomic import write_all
from .errors import TinyGMMError

INPUT_HASH_TAG = "tinygmm-inputs:"


@dataclass(frozen=True)
class ExportRequest:
    data: str
    features: list[str] | None
    options: object  # FitOptions
    header: Path
    json: Path
    vectors: Path | None
    dropna: bool = False
    namespace: str = "gmm"
    fixed_point: bool = False
    anomaly: object = None  # anomaly.AnomalyOptions | None

    def input_hash(self) -> str:
        """Hash of everything an export depends on: data bytes, options, tool version."""
        from dataclasses import asdict

        p = Path(self.data)
        data_sha = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
        doc = {
            "tool": __version__,
            "generator": _generator_fingerprint(),
            "data_sha256": data_sha,
            "features": self.features,
            "options": asdict(self.options),  # type: ignore[call-overload]
            "dropna": self.dropna,
            "namespace": self.namespace,
            **({"fixed_point": True} if self.fixed_point else {}),
            "vectors": self.vectors is not None,
            **({"anomaly": self.anomaly.hash_doc()} if self.anomaly is not None else {}),  # type: ignore[attr-defined]
        }
        text = json.dumps(doc, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _generator_fingerprint() -> str:
    """Hash of the C++ runtime and the code generators, so editing either regenerates the header."""
    from .runtime import runtime_path

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in (runtime_path(), here / "codegen.py", here / "vectors.py", here / "anomaly.py"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def up_to_date(req: ExportRequest) -> bool:
    """True when every output exists and was produced from exactly these inputs."""
    tag = f"{INPUT_HASH_TAG} {req.input_hash()}"
    outputs = [req.header, req.json] + ([req.vectors] if req.vectors else [])
    for path in outputs:
        try:
            head = path.read_text(encoding="utf-8")[:4096]
        except (OSError, UnicodeDecodeError):
            return False
        if tag not in head:
            return False
    return True


def describe_options(o: object) -> str:
    from .fit import FitOptions

    assert isinstance(o, FitOptions)
    k = (
        str(o.n_components)
        if o.n_components is not None
        else f"auto({o.criterion}, max {o.max_components}"
        + (f", alpha {o.alpha}" if o.criterion == "lrt" else "")
        + ")"
    )
    return (
        f"n_components={k} covariance_type={o.covariance_type} init_params={o.init_params} "
        f"max_iter={o.max_iter} tol={o.tol:g} reg_covar={o.reg_covar:g} n_init={o.n_init} "
        f"random_state={o.random_state} scaler={o.scaler}"
    )


@dataclass
class ExportResult:
    model: object  # ExportedModel
    fit: object  # FitResult
    written: list[Path]
    anomaly: object = None  # anomaly.AnomalyThreshold | None


def run_export(req: ExportRequest, progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Fit and write all outputs; on any error nothing is written."""
    import sklearn

    from .codegen import render_header, validate_c_text
    from .data import load_csv
    from .fit import FitOptions, fit
    from .model import ExportedModel
    from .vectors import golden, render_vectors

    opts = req.options
    assert isinstance(opts, FitOptions)
    opts.validate()
    if req.anomaly is not None:
        req.anomaly.validate()  # type: ignore[attr-defined]
    data = load_csv(req.data, req.features, dropna=req.dropna)
    labelled = None
    if req.anomaly is not None:
        from .anomaly import load_validation

        labelled = load_validation(req.anomaly, data.feature_names)  # type: ignore[arg-type]
    result = fit(data, opts, progress)
    model = ExportedModel.from_fit(result, data, opts.as_dict())
    # ---- anomaly threshold (tinygmm.anomaly) ----
    threshold = None
    if req.anomaly is not None:
        from .anomaly import calibrate

        g = model.to_sklearn()
        threshold = calibrate(
            req.anomaly,  # type: ignore[arg-type]
            lambda X: g.score_samples(model.transform(X)),
            data.X,
            model.feature_names,
            labelled,
        )
    provenance = [
        f"tinygmm {__version__}, scikit-learn {sklearn.__version__}",
        f"data: {req.data} sha256={data.sha256} rows={data.n_samples}"
        + (f" dropped={len(data.dropped_lines)}" if data.dropped_lines else ""),
        f"features: {', '.join(data.feature_names)}",
        f"options: {describe_options(opts)}",
        f"model: K={model.n_components} D={model.n_features} covariance_type={model.covariance_type} "
        f"hash={model.model_hash}" + ("" if model.converged else " (EM did NOT converge)"),
        *([threshold.describe()] if threshold is not None else []),
        f"{INPUT_HASH_TAG} {req.input_hash()}",
    ]
    files: dict[Path, str] = {}
    header = render_header(model, provenance, req.namespace, fixed_point=req.fixed_point, anomaly=threshold)
    validate_c_text(header)
    files[req.header] = header
    doc = json.loads(model.to_json())
    doc = {"input_hash": req.input_hash(), "provenance": provenance, **doc}
    if threshold is not None:
        doc["anomaly"] = threshold.to_dict()
    try:
        files[req.json] = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    except ValueError:
        raise TinyGMMError("the fitted model has non-finite parameters; not written") from None
    # keep the tag near the top of the JSON for up_to_date()
    if req.vectors is not None:
        text = render_vectors(golden(model, data.X), model, provenance)
        validate_c_text(text)
        files[req.vectors] = text
    write_all(files)
    return ExportResult(model, result, list(files), threshold)
