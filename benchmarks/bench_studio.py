"""The studio's latency and its behaviour under load.

Latency, with the model loaded (medians and 95th percentiles over ``--repeats``):
sampling 8 two-bar melodies with their WAVs, one blend step (decode + WAV), both
server-side (the studio's workshop called in process) and as a round trip to a real
``musicae serve`` on 127.0.0.1; and ``serve``'s start (a new process) to its first page.

Load: ``--requests`` requests from ``--clients`` concurrent clients (samples of 1 and 8,
blend steps, listings) against one real server: every answer must be a 200 or a 503, the
server must live on, and the page must still work afterwards; the server's peak RSS
(VmHWM) is reported.

    python benchmarks/bench_studio.py [--repeats 20] [--requests 200] [--clients 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from musicae.studio import server
from musicae.studio.store import Store
from musicae.studio.workshop import Workshop

MODEL = "folk_mel_2bar"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (server too)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPU cores, torch threads {args.threads}, model {MODEL}")
    in_process(args.repeats)
    starts = [start_to_first_page() for _ in range(5)]
    report("serve start -> first page (GET /)", [s[0] for s in starts])
    report("serve start -> models listed (GET /api/models)", [s[1] for s in starts])
    with Serve() as live:
        over_http(live.url, args.repeats)
        load(live, args.requests, args.clients)


def in_process(repeats: int) -> None:
    """Server-side: the workshop's operations, no HTTP."""
    store = Store()
    try:
        shop = Workshop(server.served_models(), store)
        shop.handle(MODEL)
        ids = [p["id"] for p in shop.sample(MODEL, 2, 0.5, 0, None, None, {}, None)["pieces"]]
        shop.blend(MODEL, ids, 0.5, 0.0, "slerp", None, None)  # codes encoded once
        report("server-side: sample 8 melodies + 8 WAVs", timed(repeats, lambda i: json.dumps(
            shop.sample(MODEL, 8, 0.5, i, None, None, {}, None))))
        report("server-side: one blend step (decode + WAV)", timed(repeats, lambda i: json.dumps(
            shop.blend(MODEL, ids, (i % 10) / 10, 0.0, "slerp", None, None))))
    finally:
        store.close()


def over_http(url: str, repeats: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        ids = [p["id"] for p in client.post("api/sample", json={"model": MODEL, "n": 2,
                                                                "seed": 0}).json()["pieces"]]
        blend = {"model": MODEL, "pieces": ids}
        client.post("api/blend", json=blend | {"x": 0.5})
        report("round trip: sample 8 melodies + 8 WAVs", timed(repeats, lambda i: ok(
            client.post("api/sample", json={"model": MODEL, "n": 8, "seed": i}))))
        report("round trip: one blend step (decode + WAV)", timed(repeats, lambda i: ok(
            client.post("api/blend", json=blend | {"x": (i % 10) / 10}))))


def load(live: Serve, requests: int, clients: int) -> None:
    """A burst of mixed requests from many clients at once; then the page must still work."""
    with httpx.Client(base_url=live.url, timeout=120) as client:
        ids = [p["id"] for p in client.post("api/sample", json={"model": MODEL, "n": 2}
                                            ).json()["pieces"]]
    kinds = [("post", "api/sample", {"model": MODEL, "n": 1}),
             ("post", "api/sample", {"model": MODEL, "n": 8}),
             ("post", "api/blend", {"model": MODEL, "pieces": ids, "x": 0.3}),
             ("get", "api/models", None)]

    def one(i: int) -> int:
        method, path, body = kinds[i % len(kinds)]
        with httpx.Client(base_url=live.url, timeout=120) as c:  # each client its own
            return c.request(method, path, json=body).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        codes = Counter(pool.map(one, range(requests)))
    took = time.perf_counter() - started
    alive = live.process.poll() is None
    page = httpx.get(live.url, timeout=30).status_code
    after = httpx.post(f"{live.url}api/sample", json={"model": MODEL, "n": 2}, timeout=60)
    print(f"load: {requests} requests from {clients} clients in {took:.1f} s: "
          f"{dict(sorted(codes.items()))}; server alive: {alive}; afterwards GET / "
          f"{page}, a sample {after.status_code}; server peak RSS {live.peak_rss_mb():.0f} MB")
    if set(codes) - {200, 503} or not alive or page != 200 or after.status_code != 200:
        sys.exit("load: FAILED (an answer other than 200/503, or the server broke)")


class Serve:
    """``musicae serve`` on a free port, as a user starts it."""

    def __enter__(self) -> Serve:
        self.process, self.url, _ = launch()
        wait_for(f"{self.url}api/models")
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmHWM:"))
        return kb / 1024


def launch() -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "musicae", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}/", started


def wait_for(url: str, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=60).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.02)
    raise SystemExit(f"{url}: no answer within {deadline} s")


def start_to_first_page() -> tuple[float, float]:
    process, url, started = launch()
    try:
        wait_for(url)
        page = time.perf_counter() - started
        wait_for(f"{url}api/models")
        return page, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def timed(repeats: int, work) -> list[float]:
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - started)
    return times


def ok(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def report(what: str, seconds: list[float]) -> None:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{what:<52} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   "
          f"(n={len(ms)})")


if __name__ == "__main__":
    main()
