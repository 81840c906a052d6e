#!/usr/bin/env bash
# The main job, end to end on the native environment (no board needed):
# fit -> include/GMM.h -> build the native firmware -> classify sample inputs
# through the serial protocol (the firmware runs as a device on a pty).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -e .

echo "== 1. fit and export (custom_gmm_* options of platformio.ini)"
python3 -m tinygmm export --platformio platformio.ini --env native --if-changed

echo "== 2. build the native firmware"
if command -v pio >/dev/null 2>&1 && pio run -e native >/tmp/tinygmm-pio.log 2>&1; then
  fw=.pio/build/native/program
  echo "built with PlatformIO: $fw"
else
  fw=$(python3 -c "from tinygmm.device.native import build_native; print(build_native())")
  echo "PlatformIO (or its native platform) is not available here; built src/ + lib/ with g++: $fw"
fi

echo "== 3. classify sample customers (Age, Spending Score) over the serial protocol"
python3 -m tinygmm classify --port "native:$fw" "19,39" "25 80" "45,20" "60 50" "33,95"

echo "== 4. verify the device against scikit-learn"
python3 -m tinygmm verify --port "native:$fw"
