"""Write ``bench/results.md``: machine, targets, timings per RTT, requests, memory, start-up."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Callable

TARGET_RTT = 20.0
FLAT_FRACTION = 0.10  # "flat": peak RSS grows by less than 10 % of the added blob bytes
STARTUP_FLOOR_MS = 25.0
VERSION_FACTOR = 2.0


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    distro = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{distro}, kernel {platform.release()} ({platform.machine()})",
        "python": sys.version.split()[0] + f" ({sys.executable})",
    }


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _ratio(m: float | None, p: float | None) -> float | None:
    return m / p if m is not None and p else None


def _yes(ok: bool | None) -> str:
    return "—" if ok is None else ("**yes**" if ok else "**no**")


def target_rows(data: dict, results: list) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, measured, met) for every target of the issue."""
    rows: list[tuple[str, str, str, bool | None]] = []
    at = [r for r in results if r.rtt == TARGET_RTT]
    for r in at:
        op = r.op
        if op.target is None:
            continue
        m = r.median("manifold")
        peers = [t.name for t in op.tools[1:] if r.median(t.name) is not None]
        if op.target_peer == "fastest":
            peer = min(peers, key=lambda t: r.median(t), default=None)
        else:
            peer = op.target_peer if op.target_peer in peers else None
        if m is None or peer is None:
            rows.append((f"{op.title} vs {op.target_peer}", f"≤ {op.target}×", "not measured", None))
            continue
        ratio = m / r.median(peer)
        rows.append((f"{op.title}: manifold / {peer}", f"≤ {op.target}×",
                     f"{ratio:.2f}× ({m:.3f} s / {r.median(peer):.3f} s)", ratio <= op.target))  # fmt: skip
    if not at:
        rows.append((f"ratios at {TARGET_RTT:g} ms RTT", "", f"{TARGET_RTT:g} ms not in --rtt", None))
    st = data.get("startup")
    if st:
        med = st["median"]
        resolve = next(v for k, v in med.items() if k.startswith("manifold resolve"))
        for label, key in (("floor", "floor:"), ("lean floor (stricter, informative)", "lean floor:")):
            floor = next((v for k, v in med.items() if k.startswith(key)), None)
            if floor is None:
                continue
            over = (resolve - floor) * 1000
            measured = f"{over:+.0f} ms ({resolve * 1000:.0f} − {floor * 1000:.0f})"
            rows.append((f"start-up: `manifold resolve oci:` minus {label}", f"≤ {STARTUP_FLOOR_MS:g} ms",
                         measured, over <= STARTUP_FLOOR_MS))
        v, py = med["manifold --version"], med["python -c pass"]
        rows.append(("start-up: `manifold --version` / `python -c pass`", f"< {VERSION_FACTOR:g}×",
                     f"{v / py:.2f}× ({v * 1000:.0f} / {py * 1000:.0f} ms)", v / py < VERSION_FACTOR))  # fmt: skip
    counts: dict[str, list[int]] = {}
    for r in results:
        if r.op.minimal is not None and "manifold" in r.requests:
            counts.setdefault(r.op.key, []).append(len(r.requests["manifold"]))
    for key, ns in counts.items():
        op = next(r.op for r in results if r.op.key == key)
        same = "" if len(ns) == 1 else (" (same at every RTT)" if len(set(ns)) == 1 else " (varies by RTT)")
        shown = "/".join(str(n) for n in dict.fromkeys(ns))
        rows.append((f"requests: {op.title}", f"≤ {op.minimal}", shown + same, max(ns) <= op.minimal))
    mem = data.get("memory")
    if mem and len(mem) == 2 and all(isinstance(x.get("manifold"), tuple) for x in mem):
        (k1, _), (k2, _) = mem[0]["manifold"], mem[1]["manifold"]
        grow, added = (k2 - k1) * 1024, mem[1]["bytes"] - mem[0]["bytes"]
        rows.append(("copy peak memory flat in blob size", f"growth < {FLAT_FRACTION:.0%} of added bytes",
                     f"{k1 / 1024:.0f} → {k2 / 1024:.0f} MiB for {mem[0]['bytes'] / 2**20:.0f} → "
                     f"{mem[1]['bytes'] / 2**20:.0f} MiB of blobs", grow < FLAT_FRACTION * added))  # fmt: skip
    return rows


def budget_section(w: Callable[[str], None], data: dict, results: list) -> None:
    """For the one-request targets: what the limit leaves once Python, typer and httpx have done one GET."""
    ref = next((r for r in results if r.rtt == TARGET_RTT and r.op.key == "inspect"), None)
    floor_name = next((t.name for t in ref.op.tools if t.name.startswith("reference")), None) if ref else None
    floor = ref.median(floor_name) if ref and floor_name else None
    rows = [r for r in results if r.rtt == TARGET_RTT and r.op.target is not None and r.op.minimal == 1]
    if floor is None or not rows:
        return
    w(f"### What the one-request targets leave at {TARGET_RTT:g} ms RTT\n")
    w("Budget = limit × peer. Request floor = a one-command typer app that imports httpx and makes the same "
      f"one GET through the same proxy (`BENCH_FLOOR_LEAN=1 python bench/floor.py --get URL`): {floor * 1000:.0f} ms. "
      "What remains is all that manifold's own imports and work may take.\n")  # fmt: skip
    w("| operation | manifold | budget | request floor | left for manifold's own code | manifold − floor now |")
    w("|---|---|---|---|---|---|")
    for r in rows:
        m, peer = r.median("manifold"), r.median(r.op.target_peer)
        if m is None or peer is None:
            continue
        budget = r.op.target * peer
        w(f"| {r.op.title} | {m * 1000:.0f} ms | {budget * 1000:.0f} ms | {floor * 1000:.0f} ms | "
          f"{(budget - floor) * 1000:+.0f} ms | {(m - floor) * 1000:+.0f} ms |")  # fmt: skip
    w("")


def write_report(path: Path, data: dict, results: list, by_method: Callable[[list], str]) -> None:
    L: list[str] = []
    w = L.append
    w("# manifold benchmark results\n")
    w(f"Date: {data['date']}. Command: `{data['command']}` ({data.get('elapsed', 0) / 60:.1f} min). "
      f"Medians of {data['repeat']} timed runs per tool ({data['heavy_repeat']} for the copy and the matrix), "
      "after one untimed run that also counts requests; tools interleaved. How to run and what is measured: "
      "[README.md](README.md).\n")  # fmt: skip
    w("## Machine\n")
    mc = data.get("machine", {})
    for k in ("cpu", "cores", "memory", "os", "python"):
        if k in mc:
            w(f"- {k}: {mc[k]}")
    if "load at start" in mc:
        w(f"- load average (1, 5, 15 min) at start: {mc['load at start']}; at end: {mc.get('load at end', '?')} "
          "(other work on the machine during the run adds noise)")
    for k, v in data.get("versions", {}).items():
        w(f"- {k}: {v}")
    w("")
    for n in data.get("notes", []):
        w(f"- note: {n}")
    if data.get("notes"):
        w("")
    w("## Targets\n")
    w("| target | limit | measured | met |")
    w("|---|---|---|---|")
    for t, lim, meas, ok in target_rows(data, results):
        w(f"| {t} | {lim} | {meas} | {_yes(ok)} |")
    w("")
    budget_section(w, data, results)
    for rtt in data["rtts"]:
        rs = [r for r in results if r.rtt == rtt]
        if not rs:
            continue
        w(f"## Timings at {rtt:g} ms RTT (median seconds; ratio = manifold / peer)\n")
        w("| operation | manifold | peer | peer s | ratio | target | met |")
        w("|---|---|---|---|---|---|---|")
        for r in rs:
            m = r.median("manifold")
            peers = [t.name for t in r.op.tools[1:]]
            fastest = min((p for p in peers if r.median(p) is not None), key=r.median, default=None)
            first = True
            for p in peers or [None]:
                pm = r.median(p) if p else None
                ratio = _ratio(m, pm)
                tgt, ok = "", None
                if r.op.target is not None and rtt == TARGET_RTT and p is not None:
                    if p == r.op.target_peer or (r.op.target_peer == "fastest" and p == fastest):
                        tgt, ok = f"≤ {r.op.target}×", (ratio is not None and ratio <= r.op.target)
                err = r.errors.get(p, "") if p else ""
                w(f"| {r.op.title if first else ''} | {_s(m) if first else ''} | {p or '(no peer)'} | "
                  f"{_s(pm) if not err else 'failed'} | {'—' if ratio is None else f'{ratio:.2f}×'} | {tgt} | "
                  f"{_yes(ok) if tgt else ''} |")  # fmt: skip
                first = False
            if "manifold" in r.errors:
                w(f"| ↳ manifold failed: {r.errors['manifold'][:200]} | | | | | | |")
        w("")
        w(f"### Registry requests per operation at {rtt:g} ms RTT\n")
        w("Counted from the registries' logs during one run of each tool; connections counted by the proxies. "
          "No auth on these registries, so no token exchanges.\n")
        w("| operation | minimal (model) | manifold | at minimum | manifold conns | peers: requests / conns |")
        w("|---|---|---|---|---|---|")
        for r in rs:
            reqs = r.requests.get("manifold")
            n = len(reqs) if reqs is not None else None
            at_min = None if n is None or r.op.minimal is None else n <= r.op.minimal
            peers = "; ".join(f"{t}: {len(q)} / {r.connections.get(t, '?')}" for t, q in r.requests.items()
                              if t != "manifold")  # fmt: skip
            w(f"| {r.op.title} | {r.op.minimal} ({r.op.model}) | {n if n is not None else '—'}"
              f"{f' ({by_method(reqs)})' if reqs else ''} | {_yes(at_min)} | {r.connections.get('manifold', '—')} | "
              f"{peers or '—'} |")  # fmt: skip
        w("")
    mem = data.get("memory")
    if mem:
        w("## Peak memory of the copy (maximum resident set size)\n")
        w("`manifold create B/… A/bench/big:TAG` (a carbon copy of the index) and `skopeo copy --all`, "
          "directly against the registries, one fresh process each.\n")
        tools = [k for k in mem[0] if k not in ("tag", "bytes")]
        w("| blobs in the index | " + " | ".join(f"{t} RSS | {t} s" for t in tools) + " |")
        w("|---|" + "---|---|" * len(tools))
        for row in mem:
            cells = []
            for t in tools:
                v = row.get(t)
                cells += [f"{v[0] / 1024:.1f} MiB", f"{v[1]:.2f}"] if isinstance(v, tuple) else [str(v), ""]
            w(f"| {row['bytes'] / 2**20:.0f} MiB | " + " | ".join(cells) + " |")
        w("")
    st = data.get("startup")
    if st:
        w(f"## Start-up (median of {st['runs']} runs after 3 warm-ups, no network)\n")
        w("| command | median ms |")
        w("|---|---|")
        for k, v in st["median"].items():
            w(f"| `{k}` | {v * 1000:.1f} |")
        w("")
    imp = data.get("imports")
    if imp:
        w("## Where start-up goes (`python -X importtime`, depth ≤ 1, costliest first; inflated by the profiler)\n")
        for title, rows in imp.items():
            w(f"`{title}`:\n")
            w("| module | self ms | cumulative ms |")
            w("|---|---|---|")
            for mod, parent, self_ms, cum in rows:
                w(f"| {mod}{f' (imported by {parent})' if parent else ''} | {self_ms:.1f} | {cum:.1f} |")
            w("")
    path.write_text("\n".join(L) + "\n")

