#!/usr/bin/env bash
# Benchmarks at 100,000 generated accounts (16 months): features for one
# date and for 12 monthly snapshots beside DuckDB; training beside Python's
# lightgbm on the same frame; the scoring run beside a Python stack; and the
# sync of 100,000 records (first run, then 2% changed) against a local
# HubSpot-like server limited to 100 requests per 10 s. Wall time and peak
# RSS (whole process tree) come from benches/measure.py.
#
#   make bench            (BENCH_DIR=… to put the data elsewhere; ~2 GB)
# The README's first table is feature set v1's; BENCH_FEATURES=v4 runs v4
# (its usage rollups cached under the output: the 12-snapshot frame runs
# with an empty cache, then again with it full), and the DuckDB yardstick
# and the Python stack run the same set's SQL.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-benches/out}
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/healthscore-target}/release/healthscore
PY=${HEALTHSCORE_PYTHON:-python3}
export HEALTHSCORE_FEATURES=${BENCH_FEATURES:-v1}
M="$PY benches/measure.py --"
mkdir -p "$B"
B=$(cd "$B" && pwd)
ACCOUNTS=${BENCH_ACCOUNTS:-100000}
PORT=${BENCH_PORT:-18181}

if [ ! -d "$B/data/accounts" ]; then
  echo "## generate $ACCOUNTS accounts × 16 months"
  $M "$BIN" generate --out "$B/data" --accounts "$ACCOUNTS" --months 16 --log-format json 2>&1 | grep -E '"stage"|wall_s'
fi
du -sh "$B/data"

cat > "$B/bench.yaml" <<YAML
warehouse: { base_uri: $B/data, export_date: 2026-11-01 }
engine: { memory_limit_mb: \${MEMORY_MB} }
output: { uri: $B/out }
models: { dir: $B/models, name: churn }
features: { sql_dir: $PWD/sql, version: ${BENCH_FEATURES:-v1} }
training: { validation_months: 1, test_months: 1, num_threads: 2 }
sync: { max_score_age_days: 100000, max_tier_change_share: 1.0 }
destinations:
  - name: hubspot-bench
    kind: hubspot
    base_url: http://127.0.0.1:$PORT
    token_env: BENCH_HUBSPOT_TOKEN
    match: { by: record_id, column: crm_id }
    fields: { health_score: health_score, tier: health_tier, p_churn_90d: churn_risk_90d, top_risk_reasons: health_reasons, recommended_action: health_action }
    rate_limit: { requests: 100, per_seconds: 10 }
    concurrency: 4
YAML
# scoring one date runs with the default memory pool (512 MB); building and
# training on 12 snapshots of 100,000 accounts gets 6 GB before it spills
sed 's/\${MEMORY_MB}/512/' "$B/bench.yaml" > "$B/bench-score.yaml"
sed -i 's/\${MEMORY_MB}/6000/' "$B/bench.yaml"
C="$B/bench.yaml"
S="$B/bench-score.yaml"
DATES12=2025-09-01,2025-10-01,2025-11-01,2025-12-01,2026-01-01,2026-02-01,2026-03-01,2026-04-01,2026-05-01,2026-06-01,2026-07-01,2026-08-01

echo "## features, one as_of (2026-11-01)"
$M "$BIN" features -c "$S" --as-of 2026-11-01 --log-format json 2>&1 | grep -E '"stage"|wall_s' | grep -oE '"stage":"[a-z]+","secs":[0-9.]+|\{"cmd.*'
$M $PY benches/duckdb_sql.py "$B/data" 2026-11-01 2>&1 | grep -E 'duckdb|wall_s'

echo "## features, 12 monthly snapshots (one plan; a cached rollup starts empty)"
rm -rf "$B/out/_cache"
$M "$BIN" features -c "$C" --snapshots monthly --from 2025-09-01 --to 2026-08-01 --log-format json 2>&1 | grep -E '"stage"|wall_s' | grep -oE '"stage":"[a-z]+","secs":[0-9.]+|\{"cmd.*'
if [ -d "$B/out/_cache" ]; then
  echo "## features, 12 monthly snapshots, the rollups cached"
  $M "$BIN" features -c "$C" --snapshots monthly --from 2025-09-01 --to 2026-08-01 --log-format json 2>&1 | grep -E '"stage"|wall_s' | grep -oE '"stage":"[a-z]+","secs":[0-9.]+|\{"cmd.*'
fi
$M $PY benches/duckdb_sql.py "$B/data" "$DATES12" 2>&1 | grep -E 'duckdb|wall_s'

echo "## train (12 monthly snapshots; churn hazard + expansion)"
rm -rf "$B/models" "$B/frame"
$M "$BIN" train -c "$C" --export-frame "$B/frame" --log-format json 2>&1 | grep -E 'train.churn|"stage":"train"|wall_s' | grep -oE '"message":"churn hazard[^"]*"|"stage":"train[a-z.]*","secs":[0-9.]+|\{"cmd.*'
$M $PY benches/python_train.py "$B/frame" 2>&1 | grep -E 'python|wall_s'

echo "## backtest --origins 3 (one frame for every origin)"
$M "$BIN" backtest -c "$C" --origins 3 --log-format json 2>&1 | grep -E '"stage":"backtest"|wall_s' | grep -oE '"stage":"[a-z]+","secs":[0-9.]+|\{"cmd.*'

echo "## score (what run does before sync): features → score with reasons → write, one as_of"
rm -rf "$B/out/account_scores" "$B/out/score_drivers"
$M "$BIN" score -c "$S" --log-format json 2>&1 | grep -E '"stage"|wall_s' | grep -oE '"stage":"[a-z]+","secs":[0-9.]+|\{"cmd.*'
V=$(cat "$B/models/churn/current")
$M $PY benches/python_stack.py "$B/data" "$B/models/churn/$V" 2026-11-01 "$B/python-out" 2>&1 | grep -E 'python|wall_s'

echo "## sync: $ACCOUNTS records, 100 requests / 10 s"
$PY benches/crm_server.py "$PORT" 100 & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 1
rm -rf "$B/out/_sync"
export BENCH_HUBSPOT_TOKEN=bench-token
$M "$BIN" sync -c "$C" --force --log-format json 2>&1 | grep -E '"stage":"sync"|wall_s' | grep -oE '"message":"[^"]*"|"secs":[0-9.]+|\{"cmd.*'
curl -s "http://127.0.0.1:$PORT/stats"; echo
$PY - "$B/out/account_scores/as_of=2026-11-01/part-0.parquet" <<'PY'
# 2% of accounts change score: the second sync should send only those
import sys, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
p = sys.argv[1]; t = pq.read_table(p)
n = t.num_rows; h = t.column("health_score").to_pylist()
for i in range(0, n, 50):
    h[i] = round(max(0.0, h[i] - 1.0), 1)
t = t.set_column(t.schema.get_field_index("health_score"), "health_score", pa.array(h))
pq.write_table(t, p, compression="zstd")
print(f"changed {len(range(0, n, 50))} of {n} scores")
PY
sleep 11   # a scheduled run comes hours later; let the server's 10-second window empty
$M "$BIN" sync -c "$C" --force --log-format json 2>&1 | grep -E '"stage":"sync"|wall_s' | grep -oE '"message":"[^"]*"|"secs":[0-9.]+|\{"cmd.*'
curl -s "http://127.0.0.1:$PORT/stats"; echo
