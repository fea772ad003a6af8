"""A load generator in its own process: many keep-alive connections sending GETs.

``python -m tests.integration.flood URL PATH KEY_PREFIX COUNT CONNECTIONS`` sends ``COUNT``
requests in all, over ``CONNECTIONS`` connections from distinct loopback addresses
(127.0.<n>.<n+10>), each with ``x-revaer-api-key: KEY_PREFIX-<n>-<i>``, and prints the status
counts as JSON. Running it outside the test process keeps its CPU out of the daemon's.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys


async def _connection(
    host: str,
    port: int,
    path: str,
    prefix: str,
    n: int,
    count: int,
    codes: collections.Counter[int],
) -> None:
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(f"127.0.{1 + n}.{10 + n}", 0)
    )
    for i in range(count):
        writer.write(
            f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            f"x-revaer-api-key: {prefix}-{n}-{i}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        codes[status] += 1
        if b"connection: close" in head.lower():
            writer.close()
            reader, writer = await asyncio.open_connection(
                host, port, local_addr=(f"127.0.{1 + n}.{10 + n}", 0)
            )
    writer.close()


async def main(url: str, path: str, prefix: str, count: int, connections: int) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    codes: collections.Counter[int] = collections.Counter()
    per = count // connections
    await asyncio.gather(
        *(_connection(host, int(port), path, prefix, n, per, codes) for n in range(connections))
    )
    print(json.dumps({str(k): v for k, v in sorted(codes.items())}))


if __name__ == "__main__":
    url, path, prefix, count, connections = sys.argv[1:6]
    asyncio.run(main(url, path, prefix, int(count), int(connections)))
