"""PlatformIO pre-build hook: keep include/GMM.h in step with data/ and platformio.ini.

Runs ``tinygmm export --if-changed`` with the custom_gmm_* options of the
environment being built, using the Python that runs PlatformIO. Costs a
fraction of a second when nothing changed; stops the build with one clear
message when tinygmm is not installed there or the export fails. Set
TINYGMM_SKIP_EXPORT=1 to build with include/GMM.h exactly as it is.
"""

import os
import subprocess
import sys

Import("env")  # noqa: F821 - provided by SCons


def _fail(message):
    sys.stderr.write(f"\n*** tinygmm: {message}\n\n")
    env.Exit(1)  # noqa: F821


def run_export():
    project = env.subst("$PROJECT_DIR")  # noqa: F821
    python = env.subst("$PYTHONEXE")  # noqa: F821
    import importlib.util

    try:
        if importlib.util.find_spec("sklearn") is None:
            raise ImportError("scikit-learn")
        from tinygmm.pioconfig import export_args
    except ImportError:
        _fail(
            "the tinygmm Python package (with scikit-learn) is not installed in the Python that runs PlatformIO.\n"
            f'    Install it with:  "{python}" -m pip install -e "{project}"'
        )
        return
    args = export_args(lambda name: env.GetProjectOption(name, None))  # noqa: F821
    result = subprocess.run([python, "-m", "tinygmm", "export", "--if-changed", *args], cwd=project)
    if result.returncode != 0:
        _fail("model export failed (see the message above); the build is stopped so no stale GMM.h is used")


if os.environ.get("TINYGMM_SKIP_EXPORT") != "1":
    run_export()
