#!/usr/bin/env bash
# Where the data lives, and past one machine, at 100,000 accounts × 16 months
# (feature set v2): `features` for one date and for 12 monthly snapshots,
# reading the export
#   - from local disk;
#   - from a local S3-compatible server (moto's, on loopback) holding the same
#     files, with the results written there too;
#   - on local disk, with the queries run on Ballista: its scheduler and two
#     executors of one task slot each (`healthscore cluster`), on this machine.
# Wall time and peak RSS of the command from benches/measure.py; the
# cluster's own peak RSS (VmHWM of its process) beside it.
#
#   make bench-where      (BENCH_DIR=… for the data; BENCH_ACCOUNTS to change the size)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-benches/out}
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/healthscore-target}/release/healthscore
PY=${HEALTHSCORE_PYTHON:-python3}
ACCOUNTS=${BENCH_ACCOUNTS:-100000}
PORT=${BENCH_S3_PORT:-18182}
mkdir -p "$B"
B=$(cd "$B" && pwd)
D="$B/where-$ACCOUNTS"
DATES="--snapshots monthly --from 2025-09-01 --to 2026-08-01"

if [ ! -d "$D/data/accounts" ]; then
  "$BIN" generate --out "$D/data" --accounts "$ACCOUNTS" --months 16 --log-format json > /dev/null 2>&1
fi
echo "export: $(du -sh "$D/data" | cut -f1), $(find "$D/data" -name '*.parquet' | wc -l) files"

source benches/measure.sh

config() { # name base_uri output_uri extra
  cat > "$D/$1.yaml" <<YAML
warehouse: { base_uri: '$2', export_date: 2026-11-01 }
output: { uri: '$3' }
models: { dir: $D/models, name: churn }
features: { sql_dir: $PWD/sql, version: v2 }
$4
YAML
}
ENGINE="memory_limit_mb: 6000"
config local "$D/data" "$D/out-local" "engine: { $ENGINE }"
config s3 "s3://bench/data/" "s3://bench/out/" "engine: { $ENGINE }
storage: { aws_endpoint: 'http://127.0.0.1:$PORT', aws_allow_http: 'true', aws_region: us-east-1 }"

# moto's S3 server, the export uploaded to it
"$PY" -m moto.server -H 127.0.0.1 -p "$PORT" > "$D/moto.log" 2>&1 & MOTO=$!
CLUSTER=""
trap 'kill $MOTO $CLUSTER 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT" > /dev/null && break; sleep 0.1; done
"$PY" - "$D/data" "http://127.0.0.1:$PORT" <<'PY'
import os, sys, boto3
root, endpoint = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint)
s3.create_bucket(Bucket="bench")
n = 0
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        s3.upload_file(p, "bench", "data/" + os.path.relpath(p, root)); n += 1
print(f"uploaded {n} files to s3://bench/data/")
PY

# Ballista's scheduler and two executors, in one process of their own
start_cluster() {
  "$BIN" cluster --executors 2 --vcores 1 > "$D/cluster.log" 2>&1 & CLUSTER=$!
  for _ in $(seq 200); do grep -q '^scheduler df://' "$D/cluster.log" && break; sleep 0.1; done
  local at
  at=$(grep -oE '^scheduler df://[^ ]+' "$D/cluster.log" | cut -d' ' -f2)
  config ballista "$D/data" "$D/out-ballista" "engine: { $ENGINE, kind: ballista, scheduler: '$at' }"
}
stop_cluster() {
  CL_MB=$(( $(grep VmHWM /proc/$CLUSTER/status | grep -oE '[0-9]+') / 1024 ))
  kill $CLUSTER; wait $CLUSTER 2>/dev/null || true; CLUSTER=""
}

printf '%-26s %-30s %9s %9s %11s\n' command where wall_s peak_mb cluster_mb
row() { printf '%-26s %-30s %9s %9s %11s\n' "$1" "$2" $3 "${4:--}"; }
for what in "features 1 date" "features 12 snapshots"; do
  if [ "$what" = "features 1 date" ]; then ARGS="--as-of 2026-11-01"; else ARGS=$DATES; fi
  row "$what" "local disk" "$(measure "$BIN" features -c "$D/local.yaml" $ARGS --log-format json)"
  row "$what" "S3 (moto, loopback)" "$(measure "$BIN" features -c "$D/s3.yaml" $ARGS --log-format json)"
  start_cluster
  R=$(measure "$BIN" features -c "$D/ballista.yaml" $ARGS --log-format json)
  stop_cluster
  row "$what" "Ballista (1 sched + 2 exec)" "$R" "$CL_MB"
done
