#!/usr/bin/env bash
# Installs what building and testing healthscore needs, when it is missing,
# and checks each thing for exactly what the build step that uses it loads:
#
#   need                        checked by                          installed from
#   CMake >= 3.28, < 4          `cmake --version` of each candidate  PyPI `cmake`, into the venv
#   libclang for bindgen        a libclang.so / .so.N / -N.so that   Debian `libclang-dev`
#                               is not libclang-cpp, plus clang's
#                               own headers (stddef.h)
#   Python tools (tests, bench) importing each one in the venv       PyPI, into the venv
#   Azurite (the Azure Blob     `azurite-blob --version` in the      npm, into the cache
#   server the tests start)     cache's node folder                  folder (Debian `npm` if absent)
#   Chromium (--browser: the     `chromium --version`                Debian `chromium`
#   report's browser test)
#   Airflow 3, dbt-duckdb 1.10   `airflow version`, `dbt --version`  PyPI, each into its own venv
#   (--stack: the example DAG's  in their venvs                      (their pins would fight
#   and dbt project's tests)                                          each other's and ours)
#
# Python tools live in a venv under the cache folder
# ($HEALTHSCORE_CACHE, default ~/.cache/healthscore/venv), so the setup never
# depends on or disturbs the machine's own interpreter. Each install says in
# one line what it installed and why; anything that cannot be installed stops
# the setup (and so `make`) before anything compiles, naming the package and
# the command to run.
#
# Prints, on stdout, the environment the build and the tests use:
#   CMAKE=<path>  HEALTHSCORE_PYTHON=<venv python>  [AZURITE=<azurite-blob>]  [CHROMIUM=<path>]
#   [AIRFLOW_BIN=<airflow venv bin>  DBT_BIN=<dbt venv bin>]
#
#   scripts/setup.sh [--no-python] [--browser] [--stack]
# Sourced (`. scripts/setup.sh`), it only defines the detection functions;
# SETUP_ROOT prefixes every path they look at, so a test can point them at a
# fake root.

SETUP_ROOT=${SETUP_ROOT:-}

say() { echo "setup: $*" >&2; }
die() { echo "setup: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# cmake_ok BIN: BIN is a CMake LightGBM 4.7 builds with (>= 3.28, and < 4:
# LightGBM's bundled dependencies still declare minimums CMake 4 refuses).
cmake_ok() {
  local v
  v=$("$1" --version 2>/dev/null | head -n1 | awk '{print $3}') || return 1
  [ -n "$v" ] && version_ge "$v" 3.28 && ! version_ge "$v" 4.0
}

# libclang_found: prints the libclang bindgen (clang-sys) would load, or
# fails. clang-sys looks for libclang.so, libclang.so.N, libclang-N.so and
# libclang-N.so.M and skips libclang-cpp (the C++ interface library, which
# Debian images ship on their own as libclang-cpp14).
libclang_found() {
  local f base
  for f in "$SETUP_ROOT"/usr/lib/llvm-*/lib/libclang* "$SETUP_ROOT"/usr/lib/x86_64-linux-gnu/libclang* \
           "$SETUP_ROOT"/usr/lib/aarch64-linux-gnu/libclang* "$SETUP_ROOT"/usr/lib/libclang* \
           "$SETUP_ROOT"/usr/local/lib/libclang*; do
    [ -e "$f" ] || continue
    base=${f##*/}
    case "$base" in
      libclang-cpp*) continue ;;
      libclang.so | libclang.so.* | libclang-[0-9]*.so | libclang-[0-9]*.so.*) echo "$f"; return 0 ;;
    esac
  done
  return 1
}

# clang_headers_found: clang's resource headers, which bindgen's parse of
# LightGBM's C API needs (stddef.h, stdbool.h). libclang-dev brings them.
clang_headers_found() {
  local f
  for f in "$SETUP_ROOT"/usr/lib/llvm-*/lib/clang/*/include/stddef.h "$SETUP_ROOT"/usr/lib/clang/*/include/stddef.h; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

apt_install() {
  local pkg=$1 why=$2
  local log
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  say "installing $pkg from Debian ($why)"
  if ! { as_root apt-get install -y -q "$pkg" >"$log" 2>&1 || { as_root apt-get update -q >>"$log" 2>&1 && as_root apt-get install -y -q "$pkg" >>"$log" 2>&1; }; }; then
    tail -n 20 "$log" >&2
    die "could not install $pkg ($why). Run: sudo apt-get update && sudo apt-get install -y $pkg"
  fi
  rm -f "$log"
}

main() {
  local cache=${HEALTHSCORE_CACHE:-$HOME/.cache/healthscore}
  local venv=$cache/venv py=$cache/venv/bin/python
  local with_python=1 with_browser=0 with_stack=0 arg
  for arg in "$@"; do
    case "$arg" in
      --no-python) with_python=0 ;;
      --browser) with_browser=1 ;;
      --stack) with_stack=1 ;;
      *) die "unknown option $arg (scripts/setup.sh [--no-python] [--browser] [--stack])" ;;
    esac
  done

  # The project venv: made from whatever python3 the machine has; everything
  # pip installs goes there.
  if [ ! -x "$py" ]; then
    command -v python3 >/dev/null || die "python3 not found (needed for CMake and the test servers). Run: sudo apt-get install -y python3 python3-venv"
    say "creating the Python venv $venv (CMake and the test tools go there, not into the system's Python)"
    python3 -m venv "$venv" >&2 || { apt_install python3-venv "python3 -m venv"; python3 -m venv "$venv" >&2; } \
      || die "could not create $venv. Run: sudo apt-get install -y python3-venv"
  fi
  pip_install() {
    local why=$1; shift
    say "installing $* into $venv ($why)"
    "$py" -m pip install --quiet --disable-pip-version-check "$@" >&2 \
      || die "could not install $* from PyPI ($why). Run: $py -m pip install $*"
  }

  # CMake: $CMAKE or the PATH's when good enough, else the venv's.
  local cmake_bin="" c
  for c in "${CMAKE:-}" "$(command -v cmake || true)" "$venv/bin/cmake"; do
    if [ -n "$c" ] && cmake_ok "$c"; then cmake_bin=$c; break; fi
  done
  if [ -z "$cmake_bin" ]; then
    pip_install "LightGBM 4.7 needs CMake >= 3.28; Debian 12 ships 3.25" 'cmake>=3.28,<4'
    cmake_ok "$venv/bin/cmake" || die "$venv/bin/cmake is not CMake >= 3.28, < 4. Run: $py -m pip install 'cmake>=3.28,<4'"
    cmake_bin=$venv/bin/cmake
  fi

  # libclang and clang's headers for bindgen (lightgbm3-sys).
  if ! libclang_found >/dev/null || ! clang_headers_found >/dev/null; then
    apt_install libclang-dev "bindgen loads libclang.so, which libclang-cpp is not"
    libclang_found >/dev/null || die "libclang-dev is installed but no libclang.so was found. Run: sudo apt-get install --reinstall -y libclang-dev"
  fi

  # Python tools the tests and benchmarks start: moto's S3 server; DuckDB,
  # LightGBM, pyarrow and psutil for the yardsticks.
  if [ "$with_python" = 1 ]; then
    local missing=() spec mod
    for spec in 'moto.server=moto[server]>=5' 'azure.storage.blob=azure-storage-blob' 'duckdb=duckdb' 'lightgbm=lightgbm==4.7.0' 'pyarrow=pyarrow' 'psutil=psutil'; do
      mod=${spec%%=*}
      "$py" -c "import $mod" 2>/dev/null || missing+=("${spec#*=}")
    done
    [ ${#missing[@]} -eq 0 ] || pip_install "servers the tests start and the benchmarks' yardsticks" "${missing[@]}"
  fi

  # Azurite, Microsoft's Azure Blob server, for the object-store tests.
  local azurite=""
  if [ "$with_python" = 1 ]; then
    azurite=$cache/node/node_modules/.bin/azurite-blob
    if ! "$azurite" --version >/dev/null 2>&1; then
      command -v npm >/dev/null || apt_install npm "Azurite, the Azure Blob server the tests start, comes from npm"
      say "installing azurite@3 into $cache/node (the Azure Blob server the object-store tests start)"
      npm install --silent --no-audit --no-fund --prefix "$cache/node" 'azurite@3' >&2 \
        || die "could not install azurite from npm. Run: npm install --prefix $cache/node azurite@3"
    fi
  fi

  # A real browser for the report's test: Debian's Chromium.
  local chromium=""
  if [ "$with_browser" = 1 ]; then
    chromium=$(command -v chromium || true)
    if [ -z "$chromium" ] || ! "$chromium" --version >/dev/null 2>&1; then
      apt_install chromium "the report's test opens the page in a real browser"
      chromium=$(command -v chromium || true)
      [ -n "$chromium" ] || die "chromium is installed but not on PATH. Run: sudo apt-get install --reinstall -y chromium"
    fi
  fi

  # The tools the examples are for, each in its own venv: Airflow 3 with
  # the Kubernetes provider (the example DAG's two operators), and dbt-core
  # 1.10 with dbt-duckdb (the example project; dbt 1.11+ fetches a parser
  # from GitHub at install, which a machine limited to PyPI cannot).
  local airflow_bin="" dbt_bin=""
  if [ "$with_stack" = 1 ]; then
    stack_venv() {
      local dir=$1 check=$2 why=$3; shift 3
      if ! "$dir/bin/python" -c "$check" 2>/dev/null; then
        [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2 || die "could not create $dir. Run: sudo apt-get install -y python3-venv"
        say "installing $* into $dir ($why)"
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2 \
          || die "could not install $* from PyPI ($why). Run: $dir/bin/python -m pip install $*"
      fi
    }
    stack_venv "$cache/airflow" "import airflow.providers.cncf.kubernetes, airflow.providers.standard" \
      "the example DAG's test loads it with Airflow's DagBag and runs it" 'apache-airflow>=3,<4' apache-airflow-providers-cncf-kubernetes
    stack_venv "$cache/dbt" "import dbt.adapters.duckdb" \
      "the example dbt project's test builds it" 'dbt-core>=1.10,<1.11' 'dbt-duckdb>=1.10,<1.11'
    airflow_bin=$cache/airflow/bin dbt_bin=$cache/dbt/bin
  fi

  echo "CMAKE=$cmake_bin"
  echo "HEALTHSCORE_PYTHON=$py"
  [ -z "$azurite" ] || echo "AZURITE=$azurite"
  [ -z "$chromium" ] || echo "CHROMIUM=$chromium"
  [ -z "$airflow_bin" ] || echo "AIRFLOW_BIN=$airflow_bin"
  [ -z "$dbt_bin" ] || echo "DBT_BIN=$dbt_bin"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  main "$@"
fi
