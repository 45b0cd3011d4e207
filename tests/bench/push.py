#!/usr/bin/env python3
"""Benchmark: `git push` of a small Dockerfile app until the new release is
live, against a baseline in the same run of raw `docker build` + `docker
service create` (host-mode port, dnsrr) + polling until it answers HTTP, on
the same build context. Then a no-change rebuild (an empty commit: every
layer cached) against a cold build of the same app (a new first layer whose
step stands in for a dependency install with `sleep 3`). Prints medians and
both ratios. Targets (issue 4): push-to-live <= 1.2x raw; warm <= 0.5x cold.

Needs a Docker engine with Swarm, git and the test images (tests/setup.sh).
Usage: tests/bench/push.py [path/to/skypanel] [rounds]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import cleanup, raw_service, sh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "skypanel"))
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SMALL = "FROM skypanel-test/web:1\nCOPY index.html /www/index.html\n"


def raw_build_and_deploy(name, ctx):
    """docker build, docker service create, then poll the task's host port until it answers."""
    t = time.perf_counter()
    sh("docker", "build", "-q", "-t", f"{name}:1", "--label", "skypanel.bench=1", ctx)
    return raw_service(name, f"{name}:1", t)


def main():
    sh("sh", os.path.join(ROOT, "tests", "images", "build.sh"))
    tmp = tempfile.mkdtemp(prefix="skypanel-bench-push-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPANEL_") and not k.startswith("GIT_")}
    env.update(HOME=tmp, XDG_CONFIG_HOME=os.path.join(tmp, "xdg"), SKYPANEL_DATA_DIR=os.path.join(tmp, "data"),
               GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")
    init = json.loads(sh(BIN, "admin", "init", "--json", env=env))
    daemon = subprocess.Popen([BIN, "daemon", "--listen", "127.0.0.1:0", "--http-listen", "off", "--https-listen", "off", "--log-level", "warn"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    tag = os.getpid()
    repo, ctx = os.path.join(tmp, "app"), os.path.join(tmp, "raw")
    os.makedirs(repo)
    os.makedirs(ctx)
    apps = [f"benchpush{tag}", f"benchcold{tag}"]
    ours, raw, cold, warm = [], [], [], []

    def git(*args, cwd=repo):
        return sh("git", *args, cwd=cwd, env=env)

    def push(cwd=repo):
        t = time.perf_counter()
        git("push", "-q", "skypanel", "main", cwd=cwd)
        return time.perf_counter() - t

    def write(path, text):
        with open(path, "w") as f:
            f.write(text)

    try:
        url = daemon.stdout.readline().strip().rsplit(" ", 1)[-1]
        sh(BIN, "login", "--server", url, "--token", init["token"], env=env)
        sh(BIN, "admin", "settings:set", "max_deployments_per_hour", "0", env=env)
        git("init", "-q", "-b", "main")
        write(os.path.join(repo, "Dockerfile"), SMALL)
        write(os.path.join(repo, "index.html"), "v0\n")
        git("add", "-A")
        git("commit", "-qm", "v0")
        sh(BIN, "apps:create", apps[0], env=env, cwd=repo)
        push()  # v1: the app exists and serves
        write(os.path.join(ctx, "Dockerfile"), SMALL)
        for i in range(ROUNDS):  # interleaved, so noise hits both alike
            body = f"round {i} {time.time()}\n"
            name = f"bench-raw-push-{tag}-{i}"
            write(os.path.join(ctx, "index.html"), body)
            try:
                raw.append(raw_build_and_deploy(name, ctx))
            finally:
                subprocess.run(["docker", "service", "rm", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run(["docker", "rmi", f"{name}:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            write(os.path.join(repo, "index.html"), body)
            git("commit", "-qam", f"round {i}")
            ours.append(push())
            time.sleep(2.5)  # let the previous release drain away, as a real deploy cadence would

        # Cold build against a no-change rebuild, in a second app.
        cold_repo = os.path.join(tmp, "cold")
        os.makedirs(cold_repo)
        git("init", "-q", "-b", "main", cwd=cold_repo)
        git("remote", "add", "skypanel", f"{url}/git/{apps[1]}.git", cwd=cold_repo)
        sh(BIN, "apps:create", apps[1], "--no-remote", env=env)
        git("config", f"credential.{url}.helper", f"!'{os.path.abspath(BIN)}' git-credential", cwd=cold_repo)
        for i in range(max(3, ROUNDS // 2)):
            write(os.path.join(cold_repo, "Dockerfile"),
                  f"FROM skypanel-test/web:1\nRUN echo 'dependencies {tag}-{i}-{time.time()}' > /deps && sleep 3\n"
                  "RUN echo built > /www/index.html\n")
            git("add", "-A", cwd=cold_repo)
            git("commit", "-qm", f"cold {i}", cwd=cold_repo)
            cold.append(push(cold_repo))
            time.sleep(2.5)
            git("commit", "-q", "--allow-empty", "-m", f"warm {i}", cwd=cold_repo)
            warm.append(push(cold_repo))
            time.sleep(2.5)
        for app in apps:
            sh(BIN, "apps:destroy", app, "--confirm", app, env=env)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        cleanup(init["instance"], apps)
        shutil.rmtree(tmp, ignore_errors=True)
    m_ours, m_raw = statistics.median(ours), statistics.median(raw)
    m_cold, m_warm = statistics.median(cold), statistics.median(warm)
    ms = lambda xs: [round(x * 1000) for x in xs]  # noqa: E731
    print(f"git push to live, {ROUNDS} rounds ({time.strftime('%Y-%m-%d')}, {BIN})")
    print(f"  git push (build + release + rollout)        median {m_ours * 1000:7.0f} ms   runs {ms(ours)}")
    print(f"  docker build + service create + polling     median {m_raw * 1000:7.0f} ms   runs {ms(raw)}")
    print(f"  ratio {m_ours / m_raw:.2f}   (target <= 1.2: {'met' if m_ours / m_raw <= 1.2 else 'NOT met'})")
    print(f"  cold build push                             median {m_cold * 1000:7.0f} ms   runs {ms(cold)}")
    print(f"  no-change rebuild push                      median {m_warm * 1000:7.0f} ms   runs {ms(warm)}")
    print(f"  ratio {m_warm / m_cold:.2f}   (target <= 0.5: {'met' if m_warm / m_cold <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
