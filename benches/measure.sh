# sourced by the bench scripts; needs $PY
# wall_s and peak_rss_mb of one command, as "<secs> <MB>"; a command that
# fails prints "failed exit=N" and its last line goes to stderr
measure() {
  local out
  out=$("$PY" benches/measure.py -- "$@" 2>&1 >/dev/null | tail -2)
  if ! grep -q '"exit": 0' <<<"$out"; then
    echo "$out" | head -1 >&2
    echo "failed exit=$(grep -oE '"exit": -?[0-9]+' <<<"$out" | grep -oE -- '-?[0-9]+$')"
    return
  fi
  grep -oE '"wall_s": [0-9.]+, "peak_rss_mb": [0-9]+' <<<"$out" | sed -E 's/"wall_s": ([0-9.]+), "peak_rss_mb": ([0-9]+)/\1 \2/'
}
