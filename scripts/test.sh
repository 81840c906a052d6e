#!/usr/bin/env bash
# Install what the test suite needs (Debian packages, Python packages) and run it.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(g++ gcc-avr avr-libc binutils-avr arduino-core-avr arduino-builder simavr libsimavr-dev libelf-dev clang libclang-rt-14-dev valgrind chromium
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  qemu-system-misc gcc-xtensa-lx106 picolibc-xtensa-lx106-elf)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing Debian packages (tests that need them are skipped): sudo apt-get install ${missing[*]}" >&2
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
python3 -m ruff check scripts test
python3 -m pytest "$@"
