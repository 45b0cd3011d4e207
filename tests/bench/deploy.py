#!/usr/bin/env python3
"""Benchmark: `skypanel deploy --image` until the new release is live, against
a baseline in the same run of raw `docker service create` of the same image
(host-mode port, dnsrr) plus polling until it answers HTTP. Prints the medians
and their ratio. Target (issue 3): ratio <= 1.15.

Needs a Docker engine with Swarm and the test images (tests/setup.sh).
Usage: tests/bench/deploy.py [path/to/skypanel] [rounds]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import cleanup, raw_service, sh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "skypanel")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
IMAGES = ["skypanel-test/web:1", "skypanel-test/web:2"]


def raw_deploy(name, image):
    """docker service create, then poll the task's host port until it answers."""
    return raw_service(name, image, time.perf_counter())


def main():
    sh("sh", os.path.join(ROOT, "tests", "images", "build.sh"))
    tmp = tempfile.mkdtemp(prefix="skypanel-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPANEL_")}
    env.update(HOME=tmp, SKYPANEL_DATA_DIR=os.path.join(tmp, "data"))
    init = json.loads(sh(BIN, "admin", "init", "--json", env=env))
    daemon = subprocess.Popen([BIN, "daemon", "--listen", "127.0.0.1:0", "--http-listen", "off", "--https-listen", "off", "--log-level", "warn"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    app = f"bench{os.getpid()}"
    ours, raw = [], []
    try:
        url = daemon.stdout.readline().strip().rsplit(" ", 1)[-1]
        env.update(SKYPANEL_SERVER=url, SKYPANEL_TOKEN=init["token"])
        sh(BIN, "apps:create", app, env=env)
        sh(BIN, "deploy", "-a", app, "--image", IMAGES[0], env=env)  # v1: the app exists and serves
        for i in range(ROUNDS):  # interleaved, so noise hits both alike
            name = f"bench-raw-{os.getpid()}-{i}"
            try:
                raw.append(raw_deploy(name, IMAGES[(i + 1) % 2]))
            finally:
                subprocess.run(["docker", "service", "rm", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = time.perf_counter()
            sh(BIN, "deploy", "-a", app, "--image", IMAGES[(i + 1) % 2], env=env)
            ours.append(time.perf_counter() - t)
            time.sleep(2.5)  # let the previous release drain away, as a real deploy cadence would
        sh(BIN, "apps:destroy", app, "--confirm", app, env=env)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        cleanup(init["instance"])
    m_ours, m_raw = statistics.median(ours), statistics.median(raw)
    print(f"deploy to live, {ROUNDS} rounds ({time.strftime('%Y-%m-%d')}, {BIN})")
    print(f"  skypanel deploy --image         median {m_ours * 1000:7.0f} ms   runs {[round(x * 1000) for x in ours]}")
    print(f"  docker service create + polling median {m_raw * 1000:7.0f} ms   runs {[round(x * 1000) for x in raw]}")
    print(f"  ratio {m_ours / m_raw:.2f}   (target <= 1.15: {'met' if m_ours / m_raw <= 1.15 else 'NOT met'})")


if __name__ == "__main__":
    main()
