"""A webhook endpoint that answers every request 204 after a fixed delay.

The benchmark's memory scenario points webhookd at it so that a thousand
requests are really open at once (nginx answers too fast for that). One
asyncio process, HTTP/1.1 keep-alive, no parsing beyond what it needs:
the request line, Content-Length and the webhook-id header. Each answered
request appends "<unix-ms> <webhook-id>" to the log file given.

    python held_receiver.py --port 8099 --delay 1.0 --log /tmp/held.log
"""

from __future__ import annotations

import argparse
import asyncio
import time


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           delay: float, log) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            webhook_id = "-"
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"webhook-id":
                    webhook_id = value.strip().decode("ascii", "replace")
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n")
            await writer.drain()
            log.write(f"{int(time.time() * 1000)} {webhook_id}\n")
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float, log_path: str) -> None:
    with open(log_path, "a", buffering=1) as log:
        server = await asyncio.start_server(
            lambda r, w: serve_connection(r, w, delay, log), "127.0.0.1", port,
            backlog=4096)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    try:
        asyncio.run(main(args.port, args.delay, args.log))
    except KeyboardInterrupt:
        pass
