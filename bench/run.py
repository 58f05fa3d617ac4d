"""manifold against skopeo, ``docker manifest`` and podman, over a registry with injected latency.

    python bench/run.py [--rtt 0,20] [--repeat 7] [--quick] [--install-peers] [--out bench/results.md]

Starts two CNCF distribution registries on loopback (A holds the sources, B receives
copies), a latency proxy (``bench/proxy.py``) in front of each per RTT, seeds A with
per-platform images, then times each operation with manifold and with every peer
that is installed, interleaved, and reports medians, ratios (manifold / peer),
registry requests per operation beside the minimal count, the copy's peak memory
for two blob sizes, and start-up time. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from images import BIG_CHILDREN, populate  # noqa: E402
from report import machine, write_report  # noqa: E402
from servers import Fleet, Proxy, Registry, by_method, clean_env, registry_binary  # noqa: E402

MIB = 1 << 20
BIG = {"big100": 26 * MIB, "big200": 52 * MIB}  # per child; 4 children → ~104 MiB and ~208 MiB
MATRIX_TAGS = 200
REQUEST_FLOOR = "reference: typer + httpx app, one GET (lean floor.py --get)"
LAYOUT_REF = "oci:fixtures/layout:app"
# containers/image (skopeo, podman) running as root remembers where it saw each blob and mounts
# it from there next time; a copy benchmark repeated into one registry would then move no bytes
SKOPEO_BLOB_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")

Cmds = list[list[str]]


def executable(name: str) -> str | None:
    """Prefer the script beside this interpreter (a pyenv shim would add its own start-up)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


MANIFOLD = [executable("manifold")] if executable("manifold") else [sys.executable, "-m", "manifold"]


class Failed(Exception):
    pass


def run_seq(cmds: Cmds, env: dict[str, str], *, check: bool = True) -> float:
    """Run commands one after another; seconds for all of them."""
    t0 = time.perf_counter()
    for c in cmds:
        r = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=900)
        if r.returncode != 0 and check:
            err = r.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise Failed(f"`{' '.join(c[:4])} …` exited {r.returncode}: {' / '.join(err)}")
    return time.perf_counter() - t0


@dataclass
class Tool:
    name: str
    make: Callable[[str], Cmds]  # unique sample id → commands
    cleanup: Callable[[str], Cmds] | None = None
    env: dict[str, str] | None = None  # on top of the common environment


@dataclass
class Op:
    key: str
    title: str
    tools: list[Tool]  # manifold first
    minimal: int | None
    model: str
    target: float | None = None  # max ratio manifold / target peer, checked at 20 ms RTT
    target_peer: str | None = None  # a tool name, or "fastest"
    repeat: int = 7
    before: Callable[[], None] | None = None  # untimed, before every run of every tool


@dataclass
class Measured:
    op: Op
    rtt: float
    times: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def median(self, tool: str) -> float | None:
        t = self.times.get(tool)
        return statistics.median(t) if t else None


# --- peers -----------------------------------------------------------------------


class Peers:
    """Which peers are installed, and the commands that run them in throw-away state."""

    def __init__(self, work: Path) -> None:
        self.skopeo = shutil.which("skopeo")
        self.docker = shutil.which("docker")
        self.podman = shutil.which("podman")
        self.docker_config = work / "docker-config"
        self.docker_config.mkdir(parents=True, exist_ok=True)
        (self.docker_config / "config.json").write_text("{}\n")
        self.podman_dir = work / "podman"
        self.notes: list[str] = []
        self.env = clean_env()
        # bytecode cached as an installed package has it (this machine sets PYTHONDONTWRITEBYTECODE),
        # but outside the source tree
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.update(DOCKER_CONFIG=str(self.docker_config), NO_COLOR="1", PYTHONPYCACHEPREFIX=str(work / "pycache"))
        # podman 4.3 ignores --tls-verify=false for the images given to `manifest create`: it learns
        # which registries are plain HTTP from a registries.conf (written per RTT by ``insecure()``)
        self.registries_conf = work / "registries.conf"
        self.pod_env = {"CONTAINERS_REGISTRIES_CONF": str(self.registries_conf)}
        self.insecure([])
        if self.docker and subprocess.run([self.docker, "manifest", "--help"], capture_output=True).returncode:
            self.notes.append("docker CLI found but it has no `manifest` command: docker skipped")
            self.docker = None
        if self.podman:
            penv = {**self.env, **self.pod_env}
            probe = subprocess.run(self.pod("manifest", "create", "bench-probe"), capture_output=True, env=penv)
            subprocess.run(self.pod("manifest", "rm", "bench-probe"), capture_output=True, env=penv)
            if probe.returncode:
                why = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
                self.notes.append(f"podman cannot run here ({why[0]}): podman skipped")
                self.podman = None
        for name in ("skopeo", "docker", "podman"):
            if getattr(self, name) is None and not any(n.startswith(name) for n in self.notes):
                self.notes.append(f"{name} not installed: its rows are missing (`--install-peers` installs it)")

    def insecure(self, hosts: list[str]) -> None:
        self.registries_conf.write_text(
            "".join(f'[[registry]]\nlocation = "{h}"\ninsecure = true\n\n' for h in hosts)
        )

    def pod(self, *args: str) -> list[str]:
        d = self.podman_dir
        return [self.podman or "podman", "--root", str(d / "root"), "--runroot", str(d / "run"),
                "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs", *args]  # fmt: skip

    def versions(self) -> dict[str, str]:
        out = {}
        for name, cmd in (("skopeo", [self.skopeo, "--version"]), ("docker", [self.docker, "--version"]),
                          ("podman", [self.podman, "--version"]), ("registry", [registry_binary(), "--version"]),
                          ("manifold", [*MANIFOLD, "--version"])):  # fmt: skip
            if cmd[0]:
                r = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
                out[name] = (r.stdout.strip() or r.stderr.strip()).splitlines()[0] if r.returncode == 0 else "?"
        return out

    # one command each ------------------------------------------------------
    def skopeo_raw(self, ref: str) -> list[str]:
        return [self.skopeo or "skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"]

    def skopeo_copy(self, src: str, dst: str) -> list[str]:
        return [self.skopeo or "skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                f"docker://{src}", f"docker://{dst}"]  # fmt: skip

    def docker_inspect(self, ref: str) -> list[str]:
        return [self.docker or "docker", "manifest", "inspect", "--insecure", ref]

    def docker_create(self, target: str, sources: list[str]) -> Cmds:
        d = self.docker or "docker"
        return [[d, "manifest", "create", "--insecure", target, *sources],
                [d, "manifest", "push", "--insecure", "--purge", target]]  # fmt: skip

    def podman_create(self, lst: str, target: str, sources: list[str]) -> Cmds:
        srcs = [f"docker://{s}" for s in sources]
        return [self.pod("manifest", "create", "--tls-verify=false", lst, *srcs),
                self.pod("manifest", "push", "--all", "--rm", "--tls-verify=false", lst, f"docker://{target}")]  # fmt: skip

    def podman_add(self, lst: str, target: str, sources: list[str]) -> Cmds:
        return [self.pod("manifest", "create", lst),
                *[self.pod("manifest", "add", "--tls-verify=false", lst, f"docker://{s}") for s in sources],
                self.pod("manifest", "push", "--all", "--rm", "--tls-verify=false", lst, f"docker://{target}")]  # fmt: skip

    def podman_rm(self, lst: str) -> Cmds:
        return [self.pod("manifest", "rm", lst)]


# --- operations ----------------------------------------------------------------------


def operations(
    a: str, b: str, peers: Peers, tags_file: Path, repeat: int, heavy_repeat: int, fresh_b: Callable[[], None]
) -> list[Op]:
    """The operations, with ``a``/``b`` the proxied addresses of registries A and B."""
    m = MANIFOLD
    idx = f"{a}/bench/app:idx10"
    arches = ["amd64", "arm64", "armv7", "armv6", "ppc64le", "s390x", "riscv64", "386"]

    def only(installed: str | None, *tools: Tool) -> list[Tool]:
        return list(tools) if installed else []

    skopeo_raw = only(peers.skopeo, Tool("skopeo inspect --raw", lambda u: [peers.skopeo_raw(idx)]))
    docker_inspect = only(peers.docker, Tool("docker manifest inspect", lambda u: [peers.docker_inspect(idx)]))
    url = f"http://{a}/v2/bench/app/manifests/idx10"
    request_floor = Tool(REQUEST_FLOOR, lambda u: [[sys.executable, str(HERE / "floor.py"), idx, "--get", url]],
                         env={"BENCH_FLOOR_LEAN": "1"})  # fmt: skip
    ops = [
        Op("inspect", "inspect a 10-entry index",
           [Tool("manifold", lambda u: [[*m, "inspect", idx]]), *skopeo_raw, *docker_inspect, request_floor],
           1, "1 index GET", 2.0, "skopeo inspect --raw", repeat),
        Op("inspect-raw", "inspect --raw a 10-entry index",
           [Tool("manifold", lambda u: [[*m, "inspect", "--raw", idx]]), *skopeo_raw],
           1, "1 index GET", None, None, repeat),
        Op("resolve", "resolve one platform (linux/arm64)",
           [Tool("manifold", lambda u: [[*m, "resolve", idx, "--platform", "linux/arm64"]]), *skopeo_raw,
            *docker_inspect],
           1, "1 index GET (the index names the child's digest)", 2.0, "skopeo inspect --raw", repeat),
        Op("check", "check two platforms (linux/amd64, linux/arm64)",
           [Tool("manifold", lambda u: [[*m, "check", idx, "-p", "linux/amd64", "-p", "linux/arm64"]]),
            *only(peers.skopeo, Tool("2× skopeo inspect --raw", lambda u: [peers.skopeo_raw(idx)] * 2)),
            *only(peers.docker, Tool("2× docker manifest inspect", lambda u: [peers.docker_inspect(idx)] * 2))],
           1, "1 index GET for both platforms", 0.6, "2× skopeo inspect --raw", repeat),
    ]  # fmt: skip

    def create_peers(target: Callable[[str, str], str], srcs: list[str], lst: str, add_variant: bool) -> list[Tool]:
        """docker and podman building ``srcs`` into ``target(tool, uid)``; podman's local list is ``lst-uid``."""
        tools = only(peers.docker, Tool("docker manifest create+push",
                                        lambda u: peers.docker_create(target("docker", u), srcs)))
        tools += only(peers.podman, Tool("podman manifest create+push",
                                         lambda u: peers.podman_create(f"{lst}-c-{u}", target("podman", u), srcs),
                                         lambda u: peers.podman_rm(f"{lst}-c-{u}"), peers.pod_env))
        if add_variant:
            tools += only(peers.podman, Tool("podman manifest create+add×N+push",
                                             lambda u: peers.podman_add(f"{lst}-a-{u}", target("podadd", u), srcs),
                                             lambda u: peers.podman_rm(f"{lst}-a-{u}"), peers.pod_env))
        return tools  # fmt: skip

    for n in (2, 8):
        srcs = [f"{a}/bench/app:v1-{x}" for x in arches[:n]]
        tools = [Tool("manifold", lambda u, n=n, srcs=srcs: [[*m, "create", f"{a}/bench/app:fan{n}", *srcs]]),
                 *create_peers(lambda tool, u, n=n: f"{a}/bench/app:fan{n}-{tool}", srcs, f"fan{n}", True)]
        ops.append(Op(f"create{n}", f"create from N={n} images, same repository", tools, 2 * n + 1,
                      f"{n} manifest GETs + {n} config GETs (platform from config) + 1 index PUT",
                      0.5 if n == 8 else None, "fastest" if n == 8 else None, repeat))  # fmt: skip
    srcs8 = [f"{a}/bench/other:v1-{x}" for x in arches]
    ops.append(Op(
        "create8-xrepo", "create from N=8 images in another repository (fresh target repo)",
        [Tool("manifold", lambda u: [[*m, "create", f"{a}/bench/x-manifold-{u}:v1", *srcs8]]),
         *create_peers(lambda tool, u: f"{a}/bench/x-{tool}-{u}:v1", srcs8, "xrepo", False)],
        5 * 8 + 1, "per child: manifest GET + config GET + 2 blob mounts (config, layer) + manifest PUT; 1 index PUT",
        None, None, repeat))  # fmt: skip
    blobs = 3  # config, small layer, big layer
    src = f"{a}/bench/big:big100"
    ops.append(Op(
        "copy", f"copy a {BIG_CHILDREN}-image index with ~104 MiB of blobs to registry B",
        [Tool("manifold", lambda u: [[*m, "create", f"{b}/copy-manifold-{u}:1", src]]),
         *only(peers.skopeo, Tool("skopeo copy --all", lambda u: [peers.skopeo_copy(src, f"{b}/copy-skopeo-{u}:1")]))],
        2 + BIG_CHILDREN * (2 + 4 * blobs),
        f"1 index GET; per child ({BIG_CHILDREN}): manifest GET, per blob ({blobs}) HEAD + GET + POST + PUT, "
        "manifest PUT; 1 index PUT", None, None, heavy_repeat, fresh_b))  # fmt: skip
    loop = ('while read -r t; do skopeo inspect --raw --tls-verify=false "docker://$t" >/dev/null || exit 1; '
            f'done < "{tags_file}"')  # fmt: skip
    ops.append(Op(
        "matrix", f"matrix over {MATRIX_TAGS} tags",
        [Tool("manifold", lambda u: [[*m, "matrix", "--file", str(tags_file)]]),
         *only(peers.skopeo, Tool("shell loop of skopeo inspect --raw", lambda u: [["sh", "-c", loop]]))],
        MATRIX_TAGS, f"{MATRIX_TAGS} index GETs (the indexes list their platforms)", 0.1,
        "shell loop of skopeo inspect --raw", heavy_repeat))  # fmt: skip
    return ops


def measure(op: Op, rtt: float, regs: list[Registry], proxies: list[Proxy], env: dict[str, str], log) -> Measured:
    res = Measured(op, rtt)
    live = []
    envs = {t.name: {**env, **(t.env or {})} for t in op.tools}
    for tool in op.tools:  # one untimed run each: warm-up, and the request count
        if op.before:
            op.before()
        for x in (*regs, *proxies):
            x.mark()
        try:
            run_seq(tool.make(f"w{rtt:g}"), envs[tool.name])
        except Failed as e:
            res.errors[tool.name] = str(e)
            log(f"  {tool.name}: FAILED {e}")
            continue
        finally:
            if tool.cleanup:
                run_seq(tool.cleanup(f"w{rtt:g}"), envs[tool.name], check=False)
        res.requests[tool.name] = [r for reg in regs for r in reg.requests()]
        res.connections[tool.name] = sum(p.connections() for p in proxies)
        live.append(tool)
    for rep in range(op.repeat):
        k = rep % max(1, len(live))
        for tool in live[k:] + live[:k]:  # rotate the order so drift hits every tool alike
            uid = f"r{rtt:g}-{rep}"
            if op.before:
                op.before()
            try:
                res.times.setdefault(tool.name, []).append(run_seq(tool.make(uid), envs[tool.name]))
            except Failed as e:
                res.errors.setdefault(tool.name, str(e))
            finally:
                if tool.cleanup:
                    run_seq(tool.cleanup(uid), envs[tool.name], check=False)
    parts = [f"{t}={res.median(t):.3f}s" for t in res.times]
    log(f"  {op.key:14s} " + "  ".join(parts))
    if "manifold" in res.requests:
        log(f"  {'':14s} requests: manifold {len(res.requests['manifold'])} ({by_method(res.requests['manifold'])}),"
            f" minimal {op.minimal}")
    return res


# --- memory and start-up ------------------------------------------------------------------


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(maximum resident set size in KiB, seconds) of one fresh run of ``cmd``."""
    gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
    t0 = time.perf_counter()
    if gnu_time:
        r = subprocess.run([gnu_time, "-v", *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
        secs = time.perf_counter() - t0
        if r.returncode:
            raise Failed(f"{cmd[0]} exited {r.returncode}: {r.stderr.strip()[-300:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
        if m:
            return int(m.group(1)), secs
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    secs = time.perf_counter() - t0
    rc, kib = r.stdout.split()
    if rc != "0":
        raise Failed(f"{cmd[0]} exited {rc}")
    return int(kib), secs


def memory(a: Registry, b: Registry, peers: Peers, big: dict, fresh_b: Callable[[], None], log) -> list[dict]:
    rows = []
    for tag in BIG:
        _, total = big[tag]
        row = {"tag": tag, "bytes": total}
        src = f"{a.host}/bench/big:{tag}"
        cmds = {"manifold": [*MANIFOLD, "create", f"{b.host}/mem-manifold-{tag}:1", src]}
        if peers.skopeo:
            cmds["skopeo copy --all"] = peers.skopeo_copy(src, f"{b.host}/mem-skopeo-{tag}:1")
        for name, cmd in cmds.items():
            fresh_b()
            try:
                row[name] = peak_rss(cmd, peers.env)
            except Failed as e:
                row[name] = str(e)
        rows.append(row)
        got = [f"{k}={v[0] / 1024:.0f}MiB" for k, v in row.items() if isinstance(v, tuple)]
        log(f"  memory {tag}: " + "  ".join(got))
    return rows


def startup(runs: int, env: dict[str, str], log) -> dict:
    py = sys.executable
    floor = [py, str(HERE / "floor.py"), LAYOUT_REF, "--platform", "linux/amd64"]
    cmds: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([py, "-c", "pass"], env),
        "manifold --version": ([*MANIFOLD, "--version"], env),
        "floor: python bench/floor.py (typer + httpx)": (floor, env),
        "lean floor: BENCH_FLOOR_LEAN=1 python bench/floor.py": (floor, {**env, "BENCH_FLOOR_LEAN": "1"}),
        f"manifold resolve {LAYOUT_REF}": ([*MANIFOLD, "resolve", LAYOUT_REF, "--platform", "linux/amd64"], env),
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(3):  # warm-up: page cache, bytecode cache
        for c, e in cmds.values():
            run_seq([c], e)
    for _ in range(runs):
        for k, (c, e) in cmds.items():
            times[k].append(run_seq([c], e))
    med = {k: statistics.median(v) for k, v in times.items()}
    log("  start-up: " + "  ".join(f"{k.split(':')[0]}={v * 1000:.0f}ms" for k, v in med.items()))
    return {"runs": runs, "median": med}


def import_profile(cmd_args: list[str], env: dict[str, str], top: int = 14) -> list[tuple[str, str, float, float]]:
    """The costliest imports of one run under ``-X importtime``, down to depth 1.

    Rows are (module, the depth-0 module that imported it or "", self ms, cumulative ms).
    """
    code = f"import sys; sys.argv = {['manifold', *cmd_args]!r}; from manifold.__main__ import main; main()"
    cmd = [sys.executable, "-X", "importtime", "-c", code]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    rows, pending = [], []
    for line in r.stderr.splitlines():  # children are printed before the module that imported them
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        depth = (len(m.group(3)) - 1) // 2
        if depth > 1:
            continue
        row = [m.group(4), "", int(m.group(1)) / 1000, int(m.group(2)) / 1000]
        if depth == 1:
            pending.append(row)
            continue
        for child in pending:
            child[1] = row[0]
        rows += [*pending, row]
        pending = []
    rows = [tuple(x) for x in rows + pending]
    rows.sort(key=lambda x: -x[3])
    return rows[:top]  # type: ignore[return-value]


# --- main ---------------------------------------------------------------------------------------


def install_peers(log) -> None:
    pkgs = ["skopeo", "podman", "time"]
    if not registry_binary():
        pkgs.append("docker-registry")
    log(f"installing {' '.join(pkgs)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", *pkgs], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rtt", default="0,20", help="round-trip times to inject, in ms, comma-separated (default 0,20)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per tool and operation (default 7)")
    p.add_argument("--quick", action="store_true", help="3 runs (1 for copy and matrix), 15 start-up runs")
    p.add_argument("--install-peers", action="store_true", help="apt-get install skopeo podman time first")
    p.add_argument("--only", help="operation keys to run, comma-separated (inspect, inspect-raw, resolve, check, "
                   "create2, create8, create8-xrepo, copy, matrix); memory and start-up always run")
    p.add_argument("--out", default=str(HERE / "results.md"), help="where to write the report")
    p.add_argument("--keep", action="store_true", help="keep the work directory (registries' data, logs)")
    a = p.parse_args(argv)
    rtts = [float(x) for x in a.rtt.split(",") if x.strip()]
    repeat = 3 if a.quick else a.repeat
    heavy = 1 if a.quick else min(a.repeat, 3)
    only = set(a.only.split(",")) if a.only else None
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {msg}", flush=True)

    # a SIGTERM ends the run through the ``finally`` below, which stops every registry and proxy
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.install_peers:
        install_peers(log)
    (HERE / "work").mkdir(exist_ok=True)  # git-ignored; removed at the end unless --keep
    work = Path(tempfile.mkdtemp(prefix="run-", dir=HERE / "work"))
    fleet = Fleet(work)
    peers = Peers(work)
    results: list[Measured] = []
    data: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "rtts": rtts,
                  "repeat": repeat, "heavy_repeat": heavy, "quick": a.quick, "notes": list(peers.notes),
                  "command": " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])}  # fmt: skip
    try:
        data["machine"] = machine()
        data["machine"]["load at start"] = "%.2f %.2f %.2f" % os.getloadavg()
        data["versions"] = peers.versions()
        log(f"versions: {data['versions']}")
        reg_a, reg_b = fleet.registry("registry-a"), fleet.registry("registry-b")
        log(f"registries A={reg_a.host} B={reg_b.host}; seeding A")
        seeded = populate(reg_a.host, work, matrix_tags=MATRIX_TAGS, big_sizes=BIG)
        log("seeded: 20 per-arch images, 9 indexes, 200 matrix tags, 2 large indexes")

        def fresh_b() -> None:
            """An empty destination for each copy, and no remembered blob locations for skopeo to mount."""
            fleet.reset(reg_b)
            SKOPEO_BLOB_CACHE.unlink(missing_ok=True)

        for rtt in rtts:
            px_a, px_b = fleet.proxy(reg_a, rtt), fleet.proxy(reg_b, rtt)
            log(f"RTT {rtt:g} ms: A via {px_a.host}, B via {px_b.host}")
            peers.insecure([px_a.host, px_b.host])
            tags_file = work / f"tags-{rtt:g}.txt"
            tags_file.write_text("".join(f"{px_a.host}/bench/app:{t}\n" for t in seeded["matrix_tags"]))
            for op in operations(px_a.host, px_b.host, peers, tags_file, repeat, heavy, fresh_b):
                if only and op.key not in only:
                    continue
                results.append(measure(op, rtt, [reg_a, reg_b], [px_a, px_b], peers.env, log))
            fleet.remove(px_a)
            fleet.remove(px_b)
        log("peak memory of the copy (direct to the registries, no proxy)")
        data["memory"] = memory(reg_a, reg_b, peers, seeded["big"], fresh_b, log)
        log("start-up")
        data["startup"] = startup(15 if a.quick else 21, peers.env, log)
        data["imports"] = {
            f"manifold resolve {LAYOUT_REF}": import_profile(["resolve", LAYOUT_REF, "-p", "linux/amd64"], peers.env),
            "manifold inspect <registry ref>": import_profile(["inspect", f"{reg_a.host}/bench/app:idx10"], peers.env),
        }
    finally:
        fleet.stop()
        data["elapsed"] = time.monotonic() - t_start
        data.setdefault("machine", {})["load at end"] = "%.2f %.2f %.2f" % os.getloadavg()
        out = Path(a.out)
        write_report(out, data, results, by_method)
        log(f"wrote {out}")
        if a.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                (HERE / "work").rmdir()  # only if empty
    return 0


if __name__ == "__main__":
    sys.exit(main())
