#!/usr/bin/env bash
# Installs what building and testing healthscore needs, when it is missing:
# CMake >= 3.28 (LightGBM 4.7; Debian 12's own is 3.25), libclang (bindgen),
# and the Python tools the tests and benchmarks start (moto's S3 server,
# DuckDB and LightGBM for the yardsticks). Prints the CMake to use.
set -euo pipefail

say() { echo "setup: $*" >&2; }
sudo_if() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

cmake_ok() {
  local v
  v=$("$1" --version 2>/dev/null | head -n1 | awk '{print $3}') || return 1
  [ -n "$v" ] && version_ge "$v" 3.28 && ! version_ge "$v" 4.0
}

# CMake: the PATH one if new enough (and < 4: LightGBM's bundled deps still
# declare old minimums), else PyPI's.
CMAKE_BIN=""
for c in "${CMAKE:-}" "$(command -v cmake || true)" "$HOME/.local/bin/cmake"; do
  if [ -n "$c" ] && cmake_ok "$c"; then CMAKE_BIN="$c"; break; fi
done
if [ -z "$CMAKE_BIN" ]; then
  say "installing cmake>=3.28,<4 from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check 'cmake>=3.28,<4' >&2
  hash -r
  for c in "$(python3 -c 'import cmake,os;print(os.path.join(cmake.CMAKE_BIN_DIR,"cmake"))' 2>/dev/null || true)" "$(command -v cmake || true)"; do
    if [ -n "$c" ] && cmake_ok "$c"; then CMAKE_BIN="$c"; break; fi
  done
fi
[ -n "$CMAKE_BIN" ] || { say "could not find or install CMake >= 3.28"; exit 1; }

# libclang for bindgen.
if ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  say "installing libclang-dev from Debian"
  sudo_if apt-get install -y -q libclang-dev >&2 || { sudo_if apt-get update -q >&2 && sudo_if apt-get install -y -q libclang-dev >&2; }
fi

# Python tools for tests (an S3-compatible server) and benchmarks.
if [ "${1:-}" != "--no-python" ]; then
  missing=()
  python3 -c 'import moto.server' 2>/dev/null || missing+=('moto[server]>=5')
  python3 -c 'import duckdb' 2>/dev/null || missing+=('duckdb')
  python3 -c 'import lightgbm' 2>/dev/null || missing+=('lightgbm==4.7.0')
  python3 -c 'import pyarrow' 2>/dev/null || missing+=('pyarrow')
  python3 -c 'import psutil' 2>/dev/null || missing+=('psutil')
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Python tools: ${missing[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
  fi
fi

echo "$CMAKE_BIN"
