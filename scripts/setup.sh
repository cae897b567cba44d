#!/usr/bin/env bash
# Installs what frugal needs to build and test, by Debian package name, then builds it.
#   scripts/setup.sh            release build in build/
#   scripts/setup.sh --asan     also an ASan+UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config xz-utils time
          libcmocka-dev libcjson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev
          chromium)  # chromium: the server's browser test (tests/serve)
# the hardening steps of scripts/test.sh: libFuzzer (scripts/fuzz.sh), memcheck (scripts/valgrind.sh)
PACKAGES+=(clang libclang-rt-14-dev llvm valgrind)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
if [ "${1:-}" = "--asan" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs"
fi
