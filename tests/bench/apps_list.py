#!/usr/bin/env python3
"""Benchmark: `skypanel apps --json` with 1,000 apps, end to end.

Starts a daemon on a temporary data dir, creates 1,000 apps through the API,
then times 50 runs of the real CLI listing them (process start, HTTP, JSON,
printing) and reads the daemon's resident memory. In the same run it times
`skypanel --version` as a baseline (process start alone) and prints the ratio,
since these machines are noisy. Targets (issue 2): p50 <= 25 ms, RSS <= 20 MB.

Usage: tests/bench/apps_list.py [path/to/skypanel]   (default: target/release/skypanel)
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "skypanel")
APPS, RUNS = 1000, 50


def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def timed(cmd, env):
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return (time.perf_counter() - t) * 1000, out.stdout


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: build it with `cargo build --release`")
    tmp = tempfile.mkdtemp(prefix="skypanel-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPANEL_")}
    env.update(HOME=tmp, SKYPANEL_DATA_DIR=os.path.join(tmp, "data"))
    init = json.loads(subprocess.run([BIN, "admin", "init", "--json"], env=env, check=True, stdout=subprocess.PIPE).stdout)
    token = init["token"]
    daemon = subprocess.Popen([BIN, "daemon", "--listen", "127.0.0.1:0", "--http-listen", "off", "--https-listen", "off", "--log-level", "warn"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = daemon.stdout.readline().strip().rsplit(" ", 1)[-1]
        env.update(SKYPANEL_SERVER=url, SKYPANEL_TOKEN=token)

        def api(method, path, body):
            req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                return r.status

        api("PUT", "/api/v1/admin/settings/max_apps_per_org", {"value": "0"})
        t = time.perf_counter()
        for i in range(APPS):
            api("POST", "/api/v1/apps", {"name": f"app-{i:04d}"})
        create_s = time.perf_counter() - t

        _, out = timed([BIN, "apps", "--json"], env)
        listed = len(json.loads(out))
        assert listed == APPS, f"listed {listed} apps, expected {APPS}"

        base, lists = [], []
        for _ in range(RUNS):  # interleaved, so noise hits both alike
            base.append(timed([BIN, "--version"], env)[0])
            lists.append(timed([BIN, "apps", "--json"], env)[0])
        rss = rss_kib(daemon.pid, "VmRSS")
        hwm = rss_kib(daemon.pid, "VmHWM")
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)

    p50, p99 = percentile(lists, 50), percentile(lists, 99)
    b50 = percentile(base, 50)
    print(f"skypanel apps --json, {APPS} apps, {RUNS} runs ({time.strftime('%Y-%m-%d')}, {BIN})")
    print(f"  created {APPS} apps through the API in {create_s:.2f} s")
    print(f"  apps --json   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (target p50 <= 25 ms: {'met' if p50 <= 25 else 'NOT met'})")
    print(f"  --version     p50 {b50:7.2f} ms   (baseline: process start alone)")
    print(f"  ratio apps --json / --version at p50: {p50 / b50:.2f}")
    print(f"  daemon RSS {rss / 1024:.1f} MB, peak {hwm / 1024:.1f} MB   (target RSS <= 20 MB: {'met' if rss <= 20 * 1024 else 'NOT met'})")


if __name__ == "__main__":
    main()
