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
- ``header``: the header text;
- ``anomaly``: the anomaly threshold's part of it;
- ``identity``: MODEL_HASH, stamped on a model (``stamp_hash``) and checked on load (``load_model``);
- ``ctext`` / ``cnames``: checks on the text pasted into C (identifiers, names, finite constants);
- ``runtime``: where the C++ runtime (the PlatformIO / Arduino library) is.

Import from the modules themselves: this package's ``__init__`` imports nothing, so that the PlatformIO
hook's no-change path (``runtime``) loads no numpy.

Glossary of the spaces (every name ending in ``_x``, ``_u``, ``_z``, ``_w``
is in that space):

- x: the raw input the device receives (``N_FEATURES`` values);
- u: the space scikit-learn fitted the mixture in, u = (x - offset) / scale;
- z: the standardised space, z = (x - o) / s, o the mixture's centre and s
  the user's scale (or the mixture's spread): every constant is of order one;
- w: what the device computes, w = x - o = s z (the scale is folded into the
  constants, the offset stays a subtraction).
"""
