"""CSV -> fit -> model JSON, C++ header and golden vectors, written atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import sklearn

from ..anomaly import AnomalyOptions, load_validation
from ..codegen.ctext import check_feature_names, check_identifier
from ..codegen.identity import stamp_hash
from ..codegen.runtime import library_files
from ..data.reader import load_csv
from ..errors import TinyGMMError
from ..fit.estimator import from_estimator, model_of_fit
from ..fit.sweep import FitOptions, fit
from ..model.exported import ExportedModel
from ..version import __version__
from .api import ExportOptions, ExportResult, ModelSource, default_provenance, write_outputs
from .fingerprint import INPUT_HASH_TAG, generator_fingerprint
from .loading import load_estimator
from .paths import check_outputs, clean_stale_temps


@dataclass(frozen=True)
class ExportRequest:
    data: str
    features: list[str] | None
    options: FitOptions
    header: Path
    json: Path
    vectors: Path | None
    dropna: bool = False
    namespace: str = "gmm"
    fixed_point: bool = False
    anomaly: AnomalyOptions | None = None

    def input_hash(self) -> str:
        """Hash of everything an export depends on: data bytes, options, tool version."""
        p = Path(self.data)
        data_sha = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
        doc = {
            "tool": __version__,
            "generator": generator_fingerprint(),
            "data_sha256": data_sha,
            "features": self.features,
            "options": self.options.as_dict(),  # (not n_jobs: it never changes the model)
            "dropna": self.dropna,
            "namespace": self.namespace,
            **({"fixed_point": True} if self.fixed_point else {}),
            "vectors": self.vectors is not None,
            **({"anomaly": self.anomaly.hash_doc()} if self.anomaly is not None else {}),
        }
        text = json.dumps(doc, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelRequest:
    """``tinygmm export --model FILE``: a saved estimator instead of a CSV to fit."""

    model: str
    features: list[str] | None
    header: Path
    json: Path
    vectors: Path | None
    namespace: str = "gmm"
    fixed_point: bool = False
    trust_pickle: bool = False
    anomaly: AnomalyOptions | None = None

    def input_hash(self) -> str:
        p = Path(self.model)
        doc = {
            "tool": __version__,
            "generator": generator_fingerprint(),
            "model_sha256": hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing",
            "features": self.features,
            "namespace": self.namespace,
            "fixed_point": self.fixed_point,
            "vectors": self.vectors is not None,
            **({"anomaly": self.anomaly.hash_doc()} if self.anomaly is not None else {}),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def model_json(path: str, features: list[str] | None) -> ExportedModel:
    """A model JSON for ``export --model``: its parameters as they are (a fresh hash is stamped on export);
    --features renames its inputs (as many names as it has)."""
    model = replace(ExportedModel.load(path, hasher=stamp_hash), selection=[])
    if features is not None:
        if len(features) != model.n_features:
            raise TinyGMMError(f"--features names {len(features)} columns but {path} has {model.n_features} features")
        model = replace(model, feature_names=list(features))
    return model


def export_saved_model(req: ModelRequest) -> ExportResult:
    """Load the saved estimator and export it through export_model's path."""
    check_request(req)
    if Path(req.model).suffix.lower() == ".json":  # a model JSON (e.g. a learning device's, tinygmm pull)
        model = model_json(req.model, req.features)
    else:
        model = from_estimator(load_estimator(req.model, req.trust_pickle), req.features, "--features")
    sha = hashlib.sha256(Path(req.model).read_bytes()).hexdigest()

    def provenance(m: ExportedModel) -> list[str]:
        lines = default_provenance(m)
        return [
            lines[0],
            f"model file: {req.model} sha256={sha} (scikit-learn {sklearn.__version__})",
            *lines[1:],
            f"{INPUT_HASH_TAG} {req.input_hash()}",
        ]

    opts = ExportOptions(namespace=req.namespace, fixed_point=req.fixed_point, anomaly=req.anomaly)
    written, text, threshold = write_outputs(
        model, req.header, req.json, req.vectors, None, opts, ModelSource(provenance, req.input_hash())
    )
    return ExportResult(model, written, header=text, anomaly=threshold)


def check_request(
    req: ExportRequest | ModelRequest, writing: bool = True, protect: dict[str, Path] | None = None
) -> None:
    """Everything about the outputs that can be refused before reading data or fitting.

    ``writing=False``: all but the permission checks (an up-to-date set needs no write).
    ``protect``: more inputs no output may be (e.g. the platformio.ini the options came from).
    Also deletes temporary files that a killed export left beside the outputs.
    """
    check_identifier(req.namespace)
    source = ("the training data", req.data) if isinstance(req, ExportRequest) else ("the saved model", req.model)
    outputs = {"--header": req.header, "--json": req.json, "--vectors": req.vectors}
    inputs = {source[0]: Path(source[1]), **library_files(), **(protect or {})}
    validation = getattr(req.anomaly, "validation", None)
    if validation is not None:
        inputs["the anomaly validation data"] = Path(validation)
    check_outputs(outputs, inputs, writable=writing)
    clean_stale_temps([p for p in outputs.values() if p is not None])


def up_to_date(req: ExportRequest | ModelRequest) -> bool:
    """True when every output exists and was produced from exactly these inputs."""
    tag = f"{INPUT_HASH_TAG} {req.input_hash()}"
    outputs = [req.header, req.json] + ([req.vectors] if req.vectors else [])
    for path in outputs:
        try:
            head = path.read_text(encoding="utf-8")  # the whole file: long names push the tag down
        except (OSError, UnicodeDecodeError):
            return False
        if tag not in head:
            return False
    return True


def describe_options(o: FitOptions) -> str:
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


def run_export(req: ExportRequest, progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Fit, then export the fitted estimator through export_model's path; on any error nothing is written."""
    opts = req.options
    opts.validate()
    check_request(req)
    data = load_csv(req.data, req.features, dropna=req.dropna)
    check_feature_names(data.feature_names)
    labelled = None
    if req.anomaly is not None:  # a bad validation file fails before the fit
        labelled = load_validation(req.anomaly, data.feature_names)
    result = fit(data, opts, progress)
    model = model_of_fit(result, data, opts.as_dict())

    def provenance(m: ExportedModel) -> list[str]:
        return [
            f"tinygmm {__version__}, scikit-learn {sklearn.__version__}",
            f"data: {req.data} sha256={data.sha256} rows={data.n_samples}"
            + (f" dropped={len(data.dropped_lines)}" if data.dropped_lines else ""),
            f"features: {', '.join(data.feature_names)}",
            f"options: {describe_options(opts)}",
            f"model: K={m.n_components} D={m.n_features} covariance_type={m.covariance_type} "
            f"hash={m.model_hash}" + ("" if m.converged else " (EM did NOT converge)"),
            f"{INPUT_HASH_TAG} {req.input_hash()}",
        ]

    written, text, threshold = write_outputs(
        model,
        req.header,
        req.json,
        req.vectors,
        data.X,
        ExportOptions(namespace=req.namespace, fixed_point=req.fixed_point, anomaly=req.anomaly),
        ModelSource(provenance, req.input_hash(), labelled=labelled),
    )
    return ExportResult(model, written, fit=result, header=text, anomaly=threshold)
