#!/usr/bin/env python3
"""Minimal closed-loop HTTP/1.1 client for scripts/bench_target.sh (stdlib only).

Each of CONNECTIONS keep-alive connections sends GET PATH, reads the whole
response, and sends the next at once. Completions are counted after WARMUP
seconds for WINDOW seconds; prints the rate and the share of non-200 answers.
Usage: closed_loop.py URL CONNECTIONS WARMUP WINDOW
"""
import asyncio
import sys
import time
from urllib.parse import urlsplit


async def loop(host, port, path, start, stop, counts):
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    while time.monotonic() < stop:
        writer.write(request)
        status = (await reader.readline()).split()[1]
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        if start <= time.monotonic() < stop:
            counts[status == b"200"] += 1
    writer.close()


async def main(url, connections, warmup, window):
    parts = urlsplit(url)
    now = time.monotonic()
    start, stop = now + warmup, now + warmup + window
    counts = {True: 0, False: 0}
    await asyncio.gather(*(loop(parts.hostname, parts.port, parts.path or "/",
                                start, stop, counts) for _ in range(connections)))
    print(f"{counts[True] / window:.1f} {counts[False]}")


if __name__ == "__main__":
    url, conns, warmup, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    asyncio.run(main(url, conns, warmup, window))
