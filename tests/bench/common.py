"""Helpers the benchmark scripts share: running commands, the raw Swarm
baseline's wait for a task to answer, and cleaning up what a benchmark
daemon made (by its installation label)."""
import json
import subprocess
import time
import urllib.request


def sh(*args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw).stdout


def answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def raw_service(name, image, started):
    """docker service create (host-mode port, dnsrr), then poll the task's host
    port until it answers; returns the seconds since `started`."""
    sh("docker", "service", "create", "-q", "-d", "--name", name, "--endpoint-mode", "dnsrr",
       "--publish", "mode=host,target=5000", "-e", "PORT=5000", "--label", "skypanel.bench=1", image)
    while True:
        out = sh("docker", "service", "ps", name, "--filter", "desired-state=running", "--format", "{{.ID}}")
        for task in out.split():
            info = json.loads(sh("docker", "inspect", task))
            ports = (info[0].get("Status", {}).get("PortStatus") or {}).get("Ports") or []
            if ports and answers(ports[0]["PublishedPort"]):
                return time.perf_counter() - started
        time.sleep(0.05)


def cleanup(instance, apps=()):
    """Removes the services, networks and app image tags a daemon left."""
    label = f"label=skypanel.instance={instance}"
    out = subprocess.run(["docker", "service", "ls", "-q", "--filter", label],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    if out:
        subprocess.run(["docker", "service", "rm", *out], stdout=subprocess.DEVNULL)
    for app in apps:
        for repo in (f"skypanel/{app}", f"skypanel-build/{app}"):
            tags = subprocess.run(["docker", "images", repo, "--format", "{{.Repository}}:{{.Tag}}"],
                                  stdout=subprocess.PIPE, text=True).stdout.split()
            if tags:
                subprocess.run(["docker", "rmi", *tags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", label],
                          stdout=subprocess.PIPE, text=True).stdout.split()
    for net in nets:
        for _ in range(60):  # tasks take a moment to leave the network
            if subprocess.run(["docker", "network", "rm", net], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.5)
