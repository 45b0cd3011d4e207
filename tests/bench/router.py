#!/usr/bin/env python3
"""Benchmark: wrk through the SkyPanel router against wrk through nginx as a
reverse proxy to the same backend (one web task of a deployed app), in the
same run and interleaved. The backend is fast and keeps connections alive, so
the proxies are what is measured: the host's own nginx binary and the
libraries it links, copied into a FROM-scratch image, answering "ok" with one
worker. Both keep connections to the backend alive, both
with 2 workers (nginx worker_processes 2; the daemon's router 2 threads,
--router-threads 2); both log every request (the router its
skypanel[router] line into the log store, nginx a buffered access log with
the same fields); wrk runs 2 threads and 32 connections. Prints requests/s and p99
latency of each, their ratios, and the memory of the daemon and of nginx
under the load. Targets (issue 5): requests/s >= 1.0x nginx, p99 <= 1.1x.

Installs nginx and wrk from Debian when missing. Needs a Docker engine with
Swarm and the test images (tests/setup.sh).
Usage: tests/bench/router.py [path/to/skypanel] [seconds per run]
"""
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from common import cleanup, sh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "skypanel"))
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROUNDS = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


BACKEND = "skypanel-bench/nginx-backend"
BACKEND_CONF = """user root root;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 5000;
        location / { default_type text/plain; return 200 "ok\\n"; }
    }
}
"""


def backend_image(tmp):
    """Builds BACKEND: nginx and the shared libraries it links (ldd), in a
    FROM-scratch image, serving "ok" on :5000 (the app's PORT)."""
    ctx = os.path.join(tmp, "backend")
    root = os.path.join(ctx, "root")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    files = [nginx] + glob.glob("/lib/x86_64-linux-gnu/libnss_files.so*")
    for line in sh("ldd", nginx).splitlines():
        m = re.search(r"(/\S+)", line)
        if m:
            files.append(m.group(1))
    for f in files:
        dest = os.path.join(root, f.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(f, dest)  # follows symlinks: the library itself at the linked name
    for d in ("tmp", "etc/nginx"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    with open(os.path.join(root, "etc", "nginx", "backend.conf"), "w") as f:
        f.write(BACKEND_CONF)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write('FROM scratch\nCOPY root/ /\n'
                'CMD ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/nginx/backend.conf", "-g", "daemon off;"]\n')
    sh("docker", "build", "-q", "-t", BACKEND, "--label", "skypanel.test=1", ctx)


def wrk(url, host, pids):
    """Runs wrk; returns (requests/s, p99 ms, peak RSS kB of pids during the run)."""
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pids()))
            time.sleep(0.2)

    t = threading.Thread(target=sample)
    t.start()
    out = sh("wrk", "-t2", "-c32", f"-d{SECONDS}s", "--latency", "-H", f"Host: {host}", url)
    done.set()
    t.join()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx answers from {url}")
    return rps, p99, peak[0]


def main():
    if not shutil.which("nginx") or not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    sh("sh", os.path.join(ROOT, "tests", "images", "build.sh"))
    tmp = tempfile.mkdtemp(prefix="skypanel-bench-router-")
    backend_image(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPANEL_")}
    env.update(HOME=tmp, XDG_CONFIG_HOME=os.path.join(tmp, "xdg"), SKYPANEL_DATA_DIR=os.path.join(tmp, "data"))
    init = json.loads(sh(BIN, "admin", "init", "--json", env=env))
    daemon = subprocess.Popen([BIN, "daemon", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--https-listen", "off", "--router-threads", "2",
                               "--log-level", "warn"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    nginx = None
    app = f"benchrouter{os.getpid()}"
    host = f"{app}.localhost"
    ours, theirs = [], []
    try:
        api = daemon.stdout.readline().strip().rsplit(" ", 1)[-1]
        router = daemon.stdout.readline().strip().rsplit("//", 1)[-1]
        env.update(SKYPANEL_SERVER=api, SKYPANEL_TOKEN=init["token"])
        sh(BIN, "apps:create", app, "--no-remote", env=env)
        sh(BIN, "deploy", "-a", app, "--image", BACKEND, env=env)
        backend = json.loads(sh(BIN, "ps", "-a", app, "--json", env=env))["backends"][0]
        for _ in range(100):  # the router's table catches up
            try:
                req = urllib.request.Request(f"http://{router}/", headers={"Host": host})
                if urllib.request.urlopen(req, timeout=2).status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    # Equal work: the router stores a line per request (skypanel[router]).
    log_format router 'host=$host method=$request_method path="$uri" status=$status '
                      'ms=$request_time request_id=$request_id fwd="$remote_addr" protocol=$scheme';
    access_log {tmp}/access.log router buffer=256k flush=1s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server {backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", tmp, "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

        def nginx_pids():
            out = subprocess.run(["pgrep", "-P", str(nginx.pid)], stdout=subprocess.PIPE, text=True).stdout
            return [nginx.pid] + [int(p) for p in out.split()]

        for _ in range(ROUNDS):  # interleaved, so noise hits both alike
            ours.append(wrk(f"http://{router}/", host, lambda: [daemon.pid]))
            theirs.append(wrk(f"http://127.0.0.1:{port}/", host, nginx_pids))
        sh(BIN, "apps:destroy", app, "--confirm", app, env=env)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(timeout=10)
        daemon.terminate()
        daemon.wait(timeout=10)
        cleanup(init["instance"], [app])
        shutil.rmtree(tmp, ignore_errors=True)
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    rps_o, rps_n = med(ours, 0), med(theirs, 0)
    p99_o, p99_n = med(ours, 1), med(theirs, 1)
    print(f"router vs nginx, wrk -t2 -c32 {SECONDS}s x {ROUNDS} ({time.strftime('%Y-%m-%d')}, {BIN})")
    print(f"  skypanel router  {rps_o:9.0f} req/s   p99 {p99_o:7.2f} ms   peak RSS {max(x[2] for x in ours) / 1024:6.1f} MB")
    print(f"  nginx            {rps_n:9.0f} req/s   p99 {p99_n:7.2f} ms   peak RSS {max(x[2] for x in theirs) / 1024:6.1f} MB (all processes)")
    print(f"  ratio req/s {rps_o / rps_n:.2f} (target >= 1.0: {'met' if rps_o >= rps_n else 'NOT met'})   "
          f"ratio p99 {p99_o / p99_n:.2f} (target <= 1.1: {'met' if p99_o <= 1.1 * p99_n else 'NOT met'})")


if __name__ == "__main__":
    main()
