"""Slow clients for bench_serving: half send each request a byte at a time, half hold an idle
keep-alive connection after a request; both kinds repeat until --seconds. Prints JSON counts.

Run it beside a measurement: what it shows is how much of the server such clients take from
normal ones, not its own figures. Loopback only, bounded in clients and time.
"""

import argparse
import asyncio
import json
import sys
import time

REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


async def read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


async def client(port: int, *, trickle: bool, byte_gap: float, idle: float, until: float, counts):
    writer = None
    while time.monotonic() < until:
        try:
            if writer is None or writer.is_closing():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if trickle:
                for byte in REQUEST:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(byte_gap)
            else:
                writer.write(REQUEST)
                await writer.drain()
            left = max(0.1, until - time.monotonic())
            await asyncio.wait_for(read_response(reader), timeout=left)
            counts["answered"] += 1
            # Hold the connection open with nothing to send, as a browser tab does between polls.
            await asyncio.sleep(idle)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            counts["dropped"] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--byte-gap", type=float, default=0.1)
    parser.add_argument("--idle", type=float, default=2.0)
    args = parser.parse_args()
    if not 0 < args.clients <= 256 or not 0 < args.seconds <= 120:
        sys.exit("at most 256 clients for at most 120 s")
    until = time.monotonic() + args.seconds
    counts = {"answered": 0, "dropped": 0}
    await asyncio.gather(
        *(
            client(
                args.port,
                trickle=n % 2 == 0,
                byte_gap=args.byte_gap,
                idle=args.idle,
                until=until,
                counts=counts,
            )
            for n in range(args.clients)
        )
    )
    json.dump(counts, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
