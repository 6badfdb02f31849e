#!/usr/bin/env bash
# The scaling curve: at each size (BENCH_SIZES, default 10,000 100,000 and
# 300,000 accounts × 16 months) the time and peak RSS of each stage, on
# feature set v4 (BENCH_FEATURES to change it):
#   generate; features over 12 monthly snapshots with an empty rollup cache,
#   then again with the cache full; train (12 snapshots); score one date.
# One line per (size, stage); the README's table is this output.
#
#   make bench-scale      (BENCH_DIR=… for the data; ~4.5 GB at the default sizes;
#                          BENCH_PASSES=2 builds the frames two dates per pass:
#                          engine.snapshots_per_pass, default 12, one pass)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-benches/out}
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/healthscore-target}/release/healthscore
PY=${HEALTHSCORE_PYTHON:-python3}
mkdir -p "$B"
B=$(cd "$B" && pwd)
FS=${BENCH_FEATURES:-v4}

source benches/measure.sh

printf '%-9s %-13s %-22s %9s %9s\n' accounts usage_rows stage wall_s peak_mb
for N in ${BENCH_SIZES:-10000 100000 300000}; do
  D="$B/scale-$N"
  if [ ! -d "$D/data/accounts" ]; then
    rm -rf "$D"
    G=$(measure "$BIN" generate --out "$D/data" --accounts "$N" --months 16 --log-format json)
  else
    G="- -"
  fi
  ROWS=$("$PY" -c 'import sys,glob,pyarrow.parquet as pq; print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob(sys.argv[1]+"/*.parquet")))' "$D/data/usage")
  cat > "$D/bench.yaml" <<YAML
warehouse: { base_uri: $D/data, export_date: 2026-11-01 }
engine: { memory_limit_mb: 6000, snapshots_per_pass: ${BENCH_PASSES:-12} }
output: { uri: $D/out }
models: { dir: $D/models, name: churn }
features: { sql_dir: $PWD/sql, version: $FS }
training: { validation_months: 1, test_months: 1, num_threads: 2 }
YAML
  sed 's/memory_limit_mb: 6000/memory_limit_mb: 512/' "$D/bench.yaml" > "$D/bench-score.yaml"
  line() { printf '%-9s %-13s %-22s %9s %9s\n' "$N" "$ROWS" "$1" $2; }
  line generate "$G"
  rm -rf "$D/out" "$D/models"
  line "features 12 (cold)" "$(measure "$BIN" features -c "$D/bench.yaml" --snapshots monthly --from 2025-09-01 --to 2026-08-01 --log-format json)"
  line "features 12 (cached)" "$(measure "$BIN" features -c "$D/bench.yaml" --snapshots monthly --from 2025-09-01 --to 2026-08-01 --log-format json)"
  line train "$(measure "$BIN" train -c "$D/bench.yaml" --log-format json)"
  line "score 1 date" "$(measure "$BIN" score -c "$D/bench-score.yaml" --log-format json)"
done
