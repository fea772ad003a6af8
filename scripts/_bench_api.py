"""Benchmark the HTTP API at 10,000 torrents: lists, details, adds, SSE fan-out and replay.

The daemon runs as its own process (``revaer-app``, embedded PostgreSQL, real engine on
loopback); this process is the client. 10,000 paused magnets are added over HTTP (that is
``add_rps``), then each figure is measured. Latencies of the event stream are measured from
the event's own ``at`` (stamped when it was published) to its arrival here: one machine, one
clock. Figures go to stdout as ``name=value`` lines; ``health_ms_p50`` (a trivial route) is
the baseline of this run, for comparing runs on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import trio
from _bench_common import emit, note

from revaer.api.server import ApiKeyVerifier, RateLimiter
from revaer.auth import hash_secret
from revaer.config import ApiKeyRecord, ConfigSnapshot, RateLimit
from revaer.runtime import Watched
from revaer.types import Revision

ROOT = Path(__file__).resolve().parent.parent


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def free_port() -> int:
    import socket  # noqa: PLC0415 -- only here

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def magnet(rng: random.Random) -> str:
    return f"magnet:?xt=urn:btih:{rng.getrandbits(160):040x}&dn=bench-{rng.getrandbits(32):08x}"


async def timed(call: Callable[[], Awaitable[httpx.Response]], expect: int = 200) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return elapsed


async def setup(client: httpx.AsyncClient, data: Path) -> str:
    token = (await client.post("/admin/setup/start")).json()["token"]
    body = {
        "engine_profile": {
            "resume_dir": str(data / "resume"),
            "download_root": str(data / "downloads"),
            "listen_interfaces": ["127.0.0.1:0"],
            "dht": False, "lsd": False, "upnp": False, "natpmp": False, "utp": False,
            "max_download_bps": 100_000_000, "max_upload_bps": 100_000_000,
        },
        "fs_policy": {"library_root": str(data / "library")},
        "api_keys": [{"op": "upsert", "key_id": "bench", "label": "bench",
                      "rate_limit": {"burst": 1_000_000, "per_seconds": 1}}],
    }  # fmt: skip
    done = await client.post(
        "/admin/setup/complete", json=body, headers={"x-revaer-setup-token": token}
    )
    done.raise_for_status()
    key: str = done.json()["api_key"]
    return key


async def wait_engine(client: httpx.AsyncClient) -> None:
    with trio.fail_after(60):
        while not (await client.get("/health/full")).json()["engine"]["running"]:  # noqa: ASYNC110 -- another process's state
            await trio.sleep(0.1)


async def add_all(client: httpx.AsyncClient, count: int, workers: int) -> float:
    rng = random.Random(7)  # noqa: S311 -- made-up info hashes, not secrets
    magnets = [magnet(rng) for _ in range(count)]
    queue = iter(magnets)

    async def worker() -> None:
        for uri in queue:
            response = await client.post("/v1/torrents", json={"magnet": uri, "paused": True})
            if response.status_code != 202:
                raise RuntimeError(f"add: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    return count / (time.perf_counter() - started)


async def pages(client: httpx.AsyncClient, params: dict[str, str], rounds: int) -> list[float]:
    return [await timed(lambda: client.get("/v1/torrents", params=params)) for _ in range(rounds)]


async def concurrent_pages(
    client: httpx.AsyncClient, params: dict[str, str], clients: int, rounds: int
) -> list[float]:
    samples: list[float] = []

    async def one() -> None:
        samples.extend(await pages(client, params, rounds))

    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(one)
    return samples


async def walk_all(client: httpx.AsyncClient) -> tuple[float, int]:
    started = time.perf_counter()
    seen = 0
    cursor: str | None = None
    while True:
        params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/torrents", params=params)).json()
        seen += len(body["torrents"])
        cursor = body["next"]
        if cursor is None:
            return (time.perf_counter() - started) * 1000, seen


class Sse:
    """A raw-socket SSE reader (HTTP/1.1, chunked): frames as (event, data) after headers."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def open(cls, host: str, port: int, target: str, key: str) -> Sse:
        stream = await trio.open_tcp_stream(host, port)
        request = f"GET {target} HTTP/1.1\r\nhost: {host}\r\nx-revaer-api-key: {key}\r\n\r\n"
        await stream.send_all(request.encode())
        sse = cls(stream)
        while b"\r\n\r\n" not in sse.buffer:
            sse.buffer += await stream.receive_some(65536)
        status = sse.buffer.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"SSE {target}: {sse.buffer[:300]!r}")
        sse.buffer = sse.buffer.split(b"\r\n\r\n", 1)[1]
        return sse

    async def frames(self) -> Any:
        """(event, data, arrival wall time) for each frame; chunk framing is skipped."""
        while True:
            while b"\n\n" not in self.buffer:
                data = await self.stream.receive_some(65536)
                if not data:
                    return
                self.buffer += data
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            fields = {}
            for line in block.split(b"\n"):
                name, _, value = line.partition(b": ")
                fields[name.split(b"\r\n")[-1]] = value
            if b"data" in fields:
                yield fields.get(b"event", b"").decode(), fields[b"data"], time.time()


def _at(data: bytes) -> float:
    at = json.loads(data)["at"].replace("Z", "+00:00")
    return datetime.fromisoformat(at).timestamp()


async def sse_fanout(
    client: httpx.AsyncClient, host: str, port: int, key: str, ids: list[str], subscribers: int
) -> list[float]:
    latencies: list[float] = []
    events = 100
    streams = [
        await Sse.open(host, port, "/v1/events?event=torrent_updated", key)
        for _ in range(subscribers)
    ]
    got = trio.Event()
    received = [0]

    async def read(sse: Sse) -> None:
        async for kind, data, arrived in sse.frames():
            if kind == "torrent_updated":
                latencies.append((arrived - _at(data)) * 1000)
                received[0] += 1
                if received[0] >= events * subscribers:
                    got.set()

    async with trio.open_nursery() as nursery:
        for sse in streams:
            nursery.start_soon(read, sse)
        for n in range(events):
            target = ids[n % len(ids)]
            body = {"type": "tags", "set": [f"t{n}"]}
            response = await client.post(f"/v1/torrents/{target}/action", json=body)
            response.raise_for_status()
            await trio.sleep(0.02)
        with trio.move_on_after(30):
            await got.wait()
        nursery.cancel_scope.cancel()
    for sse in streams:
        await sse.stream.aclose()
    return latencies


async def sse_replay(host: str, port: int, key: str, since: int, want: int) -> float:
    started = time.perf_counter()
    sse = await Sse.open(host, port, f"/v1/events?event=torrent_added&since={since}", key)
    count = 0
    async for kind, _data, _arrived in sse.frames():
        if kind == "torrent_added":
            count += 1
            if count >= want:
                break
    await sse.stream.aclose()
    return (time.perf_counter() - started) * 1000


async def rps(client: httpx.AsyncClient, path: str, total: int, workers: int = 8) -> float:
    """Requests per second of ``total`` GETs of ``path`` from ``workers`` concurrent tasks."""
    left = [total]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            response = await client.get(path)
            assert response.status_code == 200, response.text

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    return total / (time.perf_counter() - started)


async def argon2_calls(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("revaer_api_key_verifications_total") and 'cached="false"' in line
    )


async def auth_cost(admin: httpx.AsyncClient, url: str, total: int) -> None:
    """The same route (``/metrics``: open on loopback, checked when a key is presented) with a
    freshly issued key and without one, interleaved in quarters; and how often argon2 ran."""
    issued = await admin.post(
        "/v1/keys",
        json={"key_id": "bench-auth", "role": "read",
              "rate_limit": {"burst": 1_000_000, "per_seconds": 1}},
    )  # fmt: skip
    issued.raise_for_status()
    headers = {"x-revaer-api-key": issued.json()["api_key"]}
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as anonymous,
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers) as keyed,
    ):
        before = await argon2_calls(admin)
        auth, unauth = [], []
        for _ in range(4):
            unauth.append(await rps(anonymous, "/metrics", total // 4))
            auth.append(await rps(keyed, "/metrics", total // 4))
        calls = await argon2_calls(admin) - before
    emit("unauth_get_rps", statistics.mean(unauth))
    emit("auth_get_rps", statistics.mean(auth))
    emit("auth_get_ratio", statistics.mean(auth) / statistics.mean(unauth))
    emit("argon2_calls", int(calls))
    emit("auth_check_us", await cached_check_us())


async def cached_check_us(rounds: int = 10_000) -> float:
    """What admission adds to a request with a known key, in-process: verification from the
    cache plus a token bucket, per call (compare with ``health_ms_p50``, a whole request)."""
    limit = RateLimit(burst=1_000_000, per_seconds=1)
    record = ApiKeyRecord(key_id="k", label="", enabled=True, secret_hash=hash_secret("s" * 32),
                          rate_limit=limit, expires_at=None)  # fmt: skip
    snapshots = Watched(ConfigSnapshot(revision=Revision(1), app_profile={"mode": "active"},
                                       engine_profile={}, fs_policy={}, api_keys=(record,),
                                       secret_names=()))  # fmt: skip
    verifier, limiter = ApiKeyVerifier(snapshots), RateLimiter(snapshots)
    header = "k:" + "s" * 32
    await verifier.verify(header)  # the one argon2 verification
    started = time.perf_counter()
    for _ in range(rounds):
        key = await verifier.verify(header, client="127.0.0.1")
        limiter.take(key.key_id, key.rate_limit)
    return (time.perf_counter() - started) / rounds * 1e6


async def bench(args: argparse.Namespace, url: str, data: Path) -> None:
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as anonymous:
        key = await setup(anonymous, data)
        await wait_engine(anonymous)
    headers = {"x-revaer-api-key": key}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers, limits=limits) as c:
        before = (await c.get("/health/full")).json()["sse"]["last_event_id"]
        emit("add_rps", await add_all(c, args.torrents, workers=8))
        with trio.fail_after(120):
            while (await c.get("/health/full")).json()["engine"]["torrents"] < args.torrents:  # noqa: ASYNC110 -- another process's state
                await trio.sleep(0.2)
        emit("torrents", args.torrents)
        health = [await timed(lambda: c.get("/health")) for _ in range(200)]
        emit("health_ms_p50", statistics.median(health))
        for limit in ("50", "200"):
            for label, extra in (("", {}), ("_filtered", {"state": "paused", "name": "bench-a"})):
                samples = await pages(c, {"limit": limit} | extra, args.rounds)
                emit(f"list_page_{limit}{label}_ms_p50", statistics.median(samples))
                emit(f"list_page_{limit}{label}_ms_p99", pct(samples, 0.99))
        for sort in ("name", "-progress"):
            samples = await pages(c, {"limit": "50", "sort": sort}, args.rounds)
            emit(f"list_page_50_sort_{sort.strip('-')}_ms_p99", pct(samples, 0.99))
        samples = await concurrent_pages(c, {"limit": "50"}, clients=4, rounds=args.rounds // 4)
        emit("list_page_50_4_clients_ms_p50", statistics.median(samples))
        emit("list_page_50_4_clients_ms_p99", pct(samples, 0.99))
        walks = [await walk_all(c) for _ in range(3)]
        assert all(seen == args.torrents for _, seen in walks), walks
        emit("list_all_10k_ms", statistics.median(ms for ms, _ in walks))
        listed = (await c.get("/v1/torrents", params={"limit": "200"})).json()["torrents"]
        ids = [t["torrent_id"] for t in listed]
        details = [
            await timed(lambda: c.get(f"/v1/torrents/{random.choice(ids)}"))  # noqa: S311
            for _ in range(args.rounds)
        ]
        emit("detail_ms_p50", statistics.median(details))
        emit("detail_ms_p99", pct(details, 0.99))
        fanout = await sse_fanout(c, host, port, key, ids, subscribers=100)
        emit("sse_fanout_100_deliveries", len(fanout))
        emit("sse_fanout_100_ms_p50", statistics.median(fanout))
        emit("sse_fanout_100_ms_p99", pct(fanout, 0.99))
        emit("sse_replay_10k_ms", await sse_replay(host, port, key, before, args.torrents))
        await auth_cost(c, url, args.auth_requests)
        full = (await c.get("/health/full")).json()
        rss = [line for line in (await c.get("/metrics")).text.splitlines()
               if line.startswith("revaer_process_resident_memory_bytes")]  # fmt: skip
        emit("daemon_rss_mib", float(rss[0].split()[-1]) / 2**20)
        note(f"journal: {json.dumps(full['journal'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--torrents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--auth-requests", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="revaer-bench-api-"))
    data = work / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    log = (work / "daemon.log").open("w")
    daemon = subprocess.Popen(  # noqa: S603 -- our own entry point
        [str(ROOT / ".venv" / "bin" / "revaer-app"), "--data-dir", str(data), "--port", str(port),
         "--log-format", "json", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"the daemon did not start; see {work / 'daemon.log'}")
            time.sleep(0.1)
        note(f"daemon pid {daemon.pid} on {url}, data in {data}")
        trio.run(bench, args, url, data)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
