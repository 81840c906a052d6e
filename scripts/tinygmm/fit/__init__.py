"""Fitting with scikit-learn: ``sweep`` (FitOptions, the K sweep and its criteria) and ``estimator`` (a fitted
estimator or pipeline -> ExportedModel)."""
