#!/usr/bin/env bash
# Runs the demo in a scratch folder and compares what it wrote with a saved
# run, byte for byte: `account_scores`, `score_drivers` and the summary the
# demo prints. A refactoring that changes none of the behaviour passes.
#
#   benches/same_tables.sh save DIR      # keep this build's tables in DIR
#   benches/same_tables.sh compare DIR   # exit 1 if this build writes other bytes
#
# Uses the release binary under $CARGO_TARGET_DIR (make build).
set -euo pipefail
mode=${1:?save or compare}
keep=${2:?a folder}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$HOME/.cache/healthscore-target}/release/healthscore
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/config"
cp "$repo/config/healthscore.yaml" "$scratch/config/"
ln -s "$repo/sql" "$scratch/sql"
"$bin" --log-format json demo --config "$scratch/config/healthscore.yaml" > "$scratch/summary.txt" 2> "$scratch/log.jsonl"
# the summary names the scratch folder; nothing else in it varies
sed -i "s|$scratch|<scratch>|g" "$scratch/summary.txt"
tables=(account_scores score_drivers)
case $mode in
  save)
    rm -rf "$keep" && mkdir -p "$keep"
    for t in "${tables[@]}"; do cp -r "$scratch/out/$t" "$keep/"; done
    cp "$scratch/summary.txt" "$keep/"
    echo "saved $(find "$keep" -type f | wc -l) files to $keep"
    ;;
  compare)
    status=0
    for f in $(cd "$keep" && find . -type f | sort); do
      if cmp -s "$keep/$f" "$scratch/out/$f" 2>/dev/null || { [ "$f" = ./summary.txt ] && cmp -s "$keep/$f" "$scratch/summary.txt"; }; then
        echo "same   $f ($(stat -c %s "$keep/$f") bytes)"
      else
        echo "DIFFER $f"; status=1
      fi
    done
    [ $status = 0 ] && echo "every file is byte-identical" || { diff "$keep/summary.txt" "$scratch/summary.txt" | head -20 || true; }
    exit $status
    ;;
  *) echo "usage: $0 save|compare DIR" >&2; exit 2 ;;
esac
