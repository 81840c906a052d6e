"""PlatformIO pre-build hook: keep include/GMM.h in step with data/ and platformio.ini.

Runs ``tinygmm export --if-changed`` with the custom_gmm_* options of the
environment being built, using the Python that runs PlatformIO. Costs a
fraction of a second when nothing changed; stops the build with one clear
message when tinygmm is not installed there or the export fails.
"""

import os
import subprocess
import sys

Import("env")  # noqa: F821 - provided by SCons

OPTIONS = (
    # (custom_gmm_ name, export flag, default)
    ("data", "--data", "data/customers.csv"),
    ("features", "--features", ""),
    ("n_components", "--n-components", "auto"),
    ("max_components", "--max-components", "10"),
    ("criterion", "--criterion", "bic"),
    ("alpha", "--alpha", "0.05"),
    ("covariance_type", "--covariance-type", "full"),
    ("scaler", "--scaler", "none"),
    ("init_params", "--init-params", "kmeans"),
    ("max_iter", "--max-iter", "100"),
    ("tol", "--tol", "1e-3"),
    ("reg_covar", "--reg-covar", "1e-6"),
    ("n_init", "--n-init", "1"),
    ("random_state", "--random-state", "0"),
    ("header", "--header", "include/GMM.h"),
    ("json", "--json", "include/GMM.json"),
    ("vectors", "--vectors", "test/test_parity/golden_vectors.h"),
)


def _fail(message):
    sys.stderr.write("\n*** tinygmm: %s\n\n" % message)
    env.Exit(1)  # noqa: F821


def run_export():
    project = env.subst("$PROJECT_DIR")  # noqa: F821
    python = env.subst("$PYTHONEXE")  # noqa: F821
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u, sys; sys.exit(0 if u.find_spec('tinygmm') and u.find_spec('sklearn') else 1)"],
        cwd=project,
    )
    if probe.returncode != 0:
        _fail(
            "the tinygmm Python package (with scikit-learn) is not installed in the Python that runs PlatformIO.\n"
            '    Install it with:  "%s" -m pip install -e "%s"' % (python, project)
        )
    cmd = [python, "-m", "tinygmm", "export", "--if-changed"]
    for name, flag, default in OPTIONS:
        value = env.GetProjectOption("custom_gmm_" + name, default)  # noqa: F821
        value = " ".join(str(value).split())  # multi-line ini values -> one line
        if value:
            cmd += [flag, value]
    result = subprocess.run(cmd, cwd=project)
    if result.returncode != 0:
        _fail("model export failed (see the message above); the build is stopped so no stale GMM.h is used")


if os.environ.get("TINYGMM_SKIP_EXPORT") != "1":
    run_export()
