"""build.extraScript of the tinygmm PlatformIO library (see library.json).

PlatformIO runs it for every project that uses the library, with that project's environment.
The work is done by tinygmm.pio_hook (in the Python package): it generates the model header from
the project's custom_gmm_* options, or does nothing when there are none. In a checkout of the
tinygmm repository the package next to this library is used; otherwise the tinygmm installed in
the Python that runs PlatformIO.
"""

import os
import sys
from pathlib import Path

Import("env")  # noqa: F821 - provided by SCons

try:
    Import("pio_lib_builder")  # noqa: F821 - PlatformIO exports it to library scripts
    _library = Path(pio_lib_builder.path)  # noqa: F821
except Exception:  # older PlatformIO: it runs the script from the library's folder
    _library = Path(os.getcwd())

_checkout = _library.resolve().parents[1]
if (_checkout / "scripts" / "tinygmm" / "platformio" / "hook.py").is_file():
    sys.path.insert(0, str(_checkout / "scripts"))
else:
    _checkout = None

try:
    from tinygmm.platformio.hook import run
except ImportError:
    sys.stderr.write(
        "\n*** tinygmm: the tinygmm Python package is not installed in the Python that runs PlatformIO.\n"
        f'    Install it with:  "{env.subst("$PYTHONEXE")}" -m pip install /path/to/tinygmm'  # noqa: F821
        "  (your checkout, or the tinygmm wheel)\n\n"
    )
    env.Exit(1)  # noqa: F821
else:
    run(env, _checkout)  # noqa: F821
