"""Runs a command and reports its wall time and peak RSS (the whole process
tree, sampled every 20 ms) as one JSON line on stderr.

    python3 benches/measure.py -- <command> [args…]
"""
import json
import subprocess
import sys
import time

import psutil


def main():
    args = sys.argv[sys.argv.index("--") + 1 :]
    start = time.perf_counter()
    proc = subprocess.Popen(args)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    print(json.dumps({"cmd": " ".join(args[:3]), "exit": proc.returncode, "wall_s": round(wall, 2), "peak_rss_mb": round(peak / 2**20)}), file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
