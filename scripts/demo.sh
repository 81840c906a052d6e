#!/usr/bin/env bash
# The main job, end to end on a fresh clone, no board needed: fit the demo data (K chosen by BIC)
# into out/demo/, say what the labels mean, build the native firmware, classify sample customers
# through the serial protocol (the firmware runs as the device on a pty) and verify the device
# against scikit-learn. Everything it writes is under out/demo/ (git-ignored): tracked files stay
# as they are. Nothing is downloaded: PlatformIO is used only when its native platform is already
# installed, and every external step has a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=out/demo
PIO_TIMEOUT=${TINYGMM_DEMO_PIO_TIMEOUT:-180}  # seconds for `pio run -e native`
mkdir -p "$OUT"
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's package: nothing to install
export XDG_CACHE_HOME="$PWD/$OUT/cache"  # where --port native keeps the firmware it builds

if ! python3 -c "import numpy, scipy, sklearn, serial" 2>/dev/null; then
  echo "demo: tinygmm needs numpy, scipy, scikit-learn and pyserial in $(command -v python3): run  python3 -m pip install -e ." >&2
  exit 1
fi

echo "== 1. fit data/customers.csv with the custom_gmm_* options of platformio.ini, into $OUT/"
python3 -m tinygmm export --platformio platformio.ini --env native \
  --header "$OUT/GMM.h" --json "$OUT/GMM.json" --vectors none

echo
echo "== 2. what the labels are: each component's mean, in the features' units"
python3 - "$OUT/GMM.json" <<'EOF'
import sys

import numpy as np

from tinygmm.model.exported import ExportedModel

m = ExportedModel.load(sys.argv[1])
v = m.offset + m.scale * m.means  # the mixture's input units (after any scaler)
raw = v if m.projection is None else m.projection.centre + v @ np.linalg.pinv(m.projection.matrix).T
print(f"K = {m.n_components} (chosen by {m.options.get('criterion', 'bic').upper()}), features: {', '.join(m.feature_names)}")
for k in range(m.n_components):
    cells = ", ".join(f"{name} {value:.1f}" for name, value in zip(m.feature_names, raw[k]))
    print(f"label {k}: {cells}  ({100 * m.weights[k]:.0f} % of the customers)")
EOF
echo "header: $OUT/GMM.h (#include \"GMM.h\"; gmm::predict(x), gmm::classify(x, p, &ll))"
echo "report: tinygmm report --json $OUT/GMM.json --out $OUT/report   (then open $OUT/report/index.html;"
echo "        needs the plotting extra: python3 -m pip install -e \".[report]\")"

echo
echo "== 3. build the native firmware"
core=${PLATFORMIO_CORE_DIR:-$HOME/.platformio}
port=""
same_model() { [ "$(grep -m1 'MODEL_HASH\[\]' include/GMM.h)" = "$(grep -m1 'MODEL_HASH\[\]' "$OUT/GMM.h")" ]; }
if ! command -v pio >/dev/null 2>&1; then
  note="PlatformIO is not installed"
elif [ ! -d "$core/platforms/native" ] || [ ! -d "$core/packages/tool-scons" ]; then
  note="PlatformIO's native platform is not installed in $core (it would need its registry)"
elif [ ! -f .pio/libdeps/native/Unity/library.json ] && [ ! -f "$core/lib/Unity/library.json" ]; then
  note="the Unity library (test_framework = unity) is not installed in $core/lib (it would need the registry)"
elif ! same_model; then
  note="include/GMM.h is not the model just fitted (platformio.ini changed?): not rebuilding it here"
elif { [ -f .pio/libdeps/native/Unity/library.json ] || { mkdir -p .pio/libdeps/native && cp -r "$core/lib/Unity" .pio/libdeps/native/; }; } &&
  PLATFORMIO_BUILD_DIR="$PWD/$OUT/pio" TINYGMM_SKIP_EXPORT=1 PLATFORMIO_SETTING_ENABLE_TELEMETRY=no \
  PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL=9999 PLATFORMIO_DISABLE_UPGRADE_CHECK=true \
  timeout "$PIO_TIMEOUT" pio run -e native >"$OUT/pio.log" 2>&1; then
  port="native:$OUT/pio/native/program"
  echo "built with PlatformIO (pio run -e native): $OUT/pio/native/program"
else
  note="pio run -e native failed or took over ${PIO_TIMEOUT} s (see $OUT/pio.log)"
fi
if [ -z "$port" ]; then
  echo "$note: building with g++ instead"
  timeout 300 python3 -c "
import sys
from tinygmm.device.native import native_for_header
print('built with g++:', native_for_header(sys.argv[1]))" "$OUT/GMM.h"
  port=native
fi

echo
echo "== 4. classify sample customers (Age, Spending Score) over the serial protocol"
timeout 120 python3 -m tinygmm classify --port "$port" --header "$OUT/GMM.h" "19,39" "25 80" "45,20" "60 50" "33,95"

echo
echo "== 5. verify the device against scikit-learn"
timeout 300 python3 -m tinygmm verify --port "$port" --json "$OUT/GMM.json"
