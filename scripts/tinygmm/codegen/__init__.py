"""Render a model as a standalone C++ header (data and thin glue only).

All algorithms live in the runtime, ``lib/tinygmm/src/tinygmm_*.h``; this package
precomputes every x-independent quantity in float64 and prints it with
float32 round-trip precision, then pastes the runtime's parts the model uses
(see runtime.py) so the header needs nothing but <math.h>, <stdint.h> (and
<avr/pgmspace.h> on AVR).

One module per concept:

- ``clit``: C literals (floats that round-trip to float32, arrays);
- ``spaces``: the input transform and the per-type math shared by both paths;
- ``records``: the float path's constants (records, feature order, hints);
- ``fixedpoint``: the integer model of ``--fixed-point`` and its error bound;
- ``header``: the header text.

Glossary of the spaces (every name ending in ``_x``, ``_u``, ``_z``, ``_w``
is in that space):

- x: the raw input the device receives (``N_FEATURES`` values);
- u: the space scikit-learn fitted the mixture in, u = (x - offset) / scale;
- z: the standardised space, z = (x - o) / s, o the mixture's centre and s
  the user's scale (or the mixture's spread): every constant is of order one;
- w: what the device computes, w = x - o = s z (the scale is folded into the
  constants, the offset stays a subtraction).
"""

from .clit import cfloat
from .fixedpoint import QUANT_MAGIC, FixedBins, FixedPoint, fixed_bins, fixed_point, fixed_point_code
from .header import device_hash, model_constants, render_header, validate_c_text
from .records import DeviceArrays, device_arrays
from .spaces import (
    EXACT_LIMIT,
    HALF_SQRT,
    LOG_2PI,
    discriminative_order,
    input_transform,
    log_constant,
    log_det_cholesky,
    mixture_samples,
    upper_factor,
)

__all__ = [
    "EXACT_LIMIT",
    "HALF_SQRT",
    "LOG_2PI",
    "QUANT_MAGIC",
    "DeviceArrays",
    "FixedBins",
    "FixedPoint",
    "cfloat",
    "device_arrays",
    "device_hash",
    "discriminative_order",
    "fixed_bins",
    "fixed_point",
    "fixed_point_code",
    "input_transform",
    "log_constant",
    "log_det_cholesky",
    "mixture_samples",
    "model_constants",
    "render_header",
    "upper_factor",
    "validate_c_text",
]
