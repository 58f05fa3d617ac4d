"""A latency-injecting TCP proxy for the benchmark (loopback only).

    python bench/proxy.py --target 127.0.0.1:5000 --rtt-ms 20 [--port 0] [--log FILE]

Listens on ``127.0.0.1:<port>`` and forwards every connection to ``--target``.
Each chunk read from one side is delivered to the other side half the round-trip
time later, in order, so a request/response exchange costs one RTT, as on a real
network, while bulk transfers stay pipelined (the delay is latency, not a
bandwidth cap: chunks in flight overlap). ``--handshake`` also holds each new
connection's first bytes for one RTT, as a TCP handshake would (off by default:
the benchmark's figures charge only request/response turns).

The port actually bound is printed on stdout as the first line. With ``--log``,
one line ``conn`` per accepted connection is appended (the benchmark counts
connections per operation). The proxy stops by itself when its parent process
goes away, or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
import time

CHUNK = 64 * 1024
QUEUE_CHUNKS = 512  # at most this many chunks in flight per direction (bounded memory)


def loopback(host: str) -> str:
    """``host`` if it is a loopback address, else an error (this proxy talks to nothing else)."""
    name = host.strip("[]")
    if name == "localhost":
        return "127.0.0.1"
    if not ipaddress.ip_address(name).is_loopback:
        raise SystemExit(f"proxy: {host!r} is not a loopback address")
    return name


def split_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return loopback(host), int(port)


class Proxy:
    def __init__(self, target: tuple[str, int], rtt: float, *, handshake: bool, log: str | None) -> None:
        self.target = target
        self.half = rtt / 2
        self.handshake = handshake
        self.log = log
        self.connections = 0
        self.tasks: set[asyncio.Task] = set()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:  # the event loop holds tasks weakly: keep each connection's alive
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.connections += 1
        if self.log:
            with open(self.log, "a") as f:
                f.write("conn\n")
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        hold = 2 * self.half if self.handshake else 0.0
        try:
            await asyncio.gather(
                self.pump(client_r, up_w, hold), self.pump(up_r, client_w, 0.0), return_exceptions=True
            )
        finally:
            for w in (client_w, up_w):
                w.close()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        """Copy reader → writer, each chunk delivered ``half`` seconds after it was read."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            broken = False  # the far side went away: keep consuming so the reader never blocks
            while True:
                due, chunk = await queue.get()
                if broken:
                    if not chunk:
                        return
                    continue
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if not chunk:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(chunk)
                    await writer.drain()
                except (ConnectionError, OSError):
                    broken = True
                    writer.close()

        sender = asyncio.create_task(deliver())
        self.tasks.add(sender)
        sender.add_done_callback(self.tasks.discard)
        first = True
        try:
            while True:
                chunk = await reader.read(CHUNK)
                due = loop.time() + self.half + (hold if first else 0.0)
                first = False
                await queue.put((due, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()
            writer.close()  # the other direction then ends too
            raise

    async def serve(self, port: int, max_seconds: float) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, reuse_address=True)
        bound = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"{bound}\n")
        sys.stdout.flush()
        parent = os.getppid()
        deadline = time.monotonic() + max_seconds
        async with server:
            while time.monotonic() < deadline and os.getppid() == parent:
                await asyncio.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT to forward to (loopback only)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    p.add_argument("--rtt-ms", type=float, default=0.0, help="round-trip time to add, in milliseconds")
    p.add_argument("--handshake", action="store_true", help="charge one RTT per new connection")
    p.add_argument("--log", help="append one line per accepted connection to this file")
    p.add_argument("--max-seconds", type=float, default=3 * 3600, help="stop after this long in any case")
    a = p.parse_args(argv)
    proxy = Proxy(split_hostport(a.target), a.rtt_ms / 1000, handshake=a.handshake, log=a.log)
    try:
        asyncio.run(proxy.serve(a.port, a.max_seconds))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
