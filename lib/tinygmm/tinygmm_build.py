"""build.extraScript of the tinygmm PlatformIO library (see library.json).

PlatformIO runs it for every project that uses the library, with that project's environment.
The work is done by tinygmm.platformio.hook (in the Python package): it generates the model header from
the project's custom_gmm_* options. Where that package comes from:

* in a checkout of the tinygmm repository: the package next to this library (scripts/tinygmm);
* otherwise the tinygmm installed in the Python that runs PlatformIO ($PYTHONEXE). When the project
  has custom_gmm_* options and that Python lacks tinygmm (or has another version, or lacks
  scikit-learn), the wheel this library carries (python/tinygmm-<version>-py3-none-any.whl, put
  there by `tinygmm library --pack`) is installed into it with pip, which takes the dependencies
  from PyPI: one line says so; if pip fails (offline), the build stops with one line giving the
  command to run by hand;
* a project without custom_gmm_* options uses the library as C++ only: nothing is imported or installed.
"""

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

Import("env")  # noqa: F821 - provided by SCons

PREFIX = "custom_gmm_"
WHEEL_DIR = "python"
NEEDED = ("numpy", "scipy", "sklearn")  # what an export imports first (pip brings the rest with them)

try:
    Import("pio_lib_builder")  # noqa: F821 - PlatformIO exports it to library scripts
    _library = Path(pio_lib_builder.path)  # noqa: F821
except Exception:  # older PlatformIO: it runs the script from the library's folder
    _library = Path(os.getcwd())


def _stop(message):
    sys.stderr.write(f"\n*** tinygmm: {message}\n\n")
    env.Exit(1)  # noqa: F821


def _has_options():
    config = env.GetProjectConfig()  # noqa: F821
    return any(o.startswith(PREFIX) for o in config.options("env:" + env["PIOENV"]))  # noqa: F821


def _carried_wheel():
    wheels = sorted((_library / WHEEL_DIR).glob("tinygmm-*-py3-none-any.whl"))
    return wheels[-1] if wheels else None


def _importable_version():
    """The version of the tinygmm this Python imports (installed, or on PYTHONPATH), or None."""
    if importlib.util.find_spec("tinygmm") is None:
        return None
    import tinygmm  # light: the package's __init__ imports nothing heavy

    return getattr(tinygmm, "__version__", "unknown")


def _install(python, wheel):
    """pip install the carried wheel into PlatformIO's Python; stop the build with the command if it fails."""
    wanted = wheel.name.split("-")[1]
    have = _importable_version()
    if have == wanted and all(importlib.util.find_spec(m) is not None for m in NEEDED):
        return
    what = f"tinygmm {wanted}" + (f" (replacing {have})" if have else "")
    print(f"tinygmm: installing {what} and what it needs from PyPI (numpy, scipy, scikit-learn, ...) into {python}")
    cmd = [python, "-m", "pip", "install", str(wheel)]
    quiet = ["--disable-pip-version-check", "--no-input", "--quiet", "--retries", "2", "--timeout", "20"]
    try:
        r = subprocess.run([*cmd[:4], *quiet, *cmd[4:]], capture_output=True, text=True, check=False)
        code, out = r.returncode, r.stdout + r.stderr
    except OSError as exc:
        code, out = -1, str(exc)
    if code != 0:
        errors = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("ERROR")] or out.strip().splitlines()
        reason = errors[-1] if errors else f"exit code {code}"
        shown = f'"{python}" -m pip install "{wheel}"'
        _stop(f"could not install tinygmm into PlatformIO's Python ({reason}); to install it by hand (online), run: {shown}")
        return
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == "tinygmm" or m.startswith("tinygmm.")]:
        del sys.modules[name]  # the version imported to check, not the one just installed


def _main():
    checkout = _library.resolve().parents[1]
    if (checkout / "scripts" / "tinygmm" / "platformio" / "hook.py").is_file():
        sys.path.insert(0, str(checkout / "scripts"))
    else:
        checkout = None
        if not _has_options():
            return  # the runtime and protocol only: no Python package needed
        python = env.subst("$PYTHONEXE") or sys.executable  # noqa: F821
        wheel = _carried_wheel()
        if wheel is not None:
            _install(python, wheel)
    try:
        from tinygmm.platformio.hook import run
    except ImportError:
        python = env.subst("$PYTHONEXE") or sys.executable  # noqa: F821
        _stop(
            "the tinygmm Python package is not installed in the Python that runs PlatformIO, and this copy of "
            f'the library carries none: run "{python}" -m pip install /path/to/tinygmm (a checkout or wheel), '
            "or use the library packed by `tinygmm library --pack`"
        )
        return
    try:
        Import("projenv")  # noqa: F821 - the project's sources' environment (custom_gmm_learn's define)
        project_env = projenv  # noqa: F821
    except Exception:
        project_env = None
    run(env, checkout, project_env)  # noqa: F821


_main()
