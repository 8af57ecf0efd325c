"""The scale set emulator's share of "queued -> runner dispatched": a held poll's wake-up.

Usage: python scripts/bench_scaleset_poll.py [--rounds 200] [--burst 500]

Starts the GitHub emulator on loopback, runs a listener's auth chain, creates a scale set and a
session, then (1) `--rounds` times: holds a GET message, queues one matching job through
`/_sim`, and times queue -> the GET's 200 as the listener sees it; (2) queues `--burst` jobs at
once and times how long poll + ack + acquire takes until every job is assigned. Prints figures
only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from simulator.github import GitHubEmulator
from simulator.github.scaleset_models import ScaleSetSettings

TOKEN = "ghp_bench"
REPO = "acme/app"
VERSION = {"api-version": "6.0-preview"}


async def setup(client: httpx.AsyncClient, url: str) -> tuple[str, str, dict[str, str]]:
    """Auth chain, scale set, session: (queue URL, acquirejobs URL, queue headers)."""
    reg = await client.post(f"/api/v3/repos/{REPO}/actions/runners/registration-token")
    conn = await client.post(
        "/api/v3/actions/runner-registration",
        headers={"Authorization": f"RemoteAuth {reg.json()['token']}"},
        json={"url": f"{url}/{REPO}", "runner_event": "register"},
    )
    service, admin = conn.json()["url"], {"Authorization": f"Bearer {conn.json()['token']}"}
    scale_set = await client.post(
        f"{service}_apis/runtime/runnerscalesets",
        params=VERSION,
        headers=admin,
        json={"name": "rod"},
    )
    session = await client.post(
        f"{service}_apis/runtime/runnerscalesets/{scale_set.json()['id']}/sessions",
        params=VERSION,
        headers=admin,
        json={"ownerName": "bench"},
    )
    token = session.json()["messageQueueAccessToken"]
    queue = {"Authorization": f"Bearer {token}", "X-ScaleSetMaxCapacity": "100000"}
    acquire = f"{service}_apis/runtime/runnerscalesets/{scale_set.json()['id']}/acquirejobs"
    return session.json()["messageQueueUrl"], acquire, queue


async def handle(
    client: httpx.AsyncClient, queue_url: str, queue: dict[str, str], acquire: str, last: int
) -> tuple[int, dict[str, int]] | None:
    """One poll; ack and acquire what it brought. (message id, statistics) or None on 202."""
    response = await client.get(
        queue_url, params={"lastMessageId": str(last)} if last else {}, headers=queue
    )
    if response.status_code == 202:
        return None
    message = response.json()
    await client.delete(f"{queue_url}/{message['messageId']}", headers=queue)
    ids = [
        e["runnerRequestId"]
        for e in json.loads(message["body"])
        if e["messageType"] == "JobAvailable"
    ]
    if ids:
        await client.post(acquire, params=VERSION, headers=queue, json=ids)
    return message["messageId"], message["statistics"]


async def held(client: httpx.AsyncClient) -> None:
    """Wait until the emulator holds the poll."""
    while (await client.get("/_sim/scalesets")).json()[0]["sessions"][0]["polls"] != 1:
        await asyncio.sleep(0.002)


async def main(rounds: int, burst: int) -> None:
    """Run both measurements and print them."""
    emulator = GitHubEmulator(
        repos=[REPO], tokens=[TOKEN], scaleset=ScaleSetSettings(poll_hold=30)
    ).start()
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=emulator.url, headers=headers, timeout=60) as c:
            queue_url, acquire, queue = await setup(c, emulator.url)
            last, wakeups = 0, []
            for _ in range(rounds):
                params = {"lastMessageId": str(last)} if last else {}
                poll = asyncio.create_task(c.get(queue_url, params=params, headers=queue))
                await held(c)
                start = time.perf_counter()
                one = {"jobs": [{"name": "j", "labels": ["rod"]}]}
                await c.post(f"/_sim/repos/{REPO}/runs", json=one)
                response = await poll
                wakeups.append((time.perf_counter() - start) * 1000)
                last = response.json()["messageId"]
                await c.delete(f"{queue_url}/{last}", headers=queue)
            quantiles = statistics.quantiles(wakeups, n=10)
            print(f"wake-up (queue a job -> held poll answers 200), {rounds} rounds:")
            print(f"  p50 {statistics.median(wakeups):.1f} ms  p90 {quantiles[8]:.1f} ms"
                  f"  max {max(wakeups):.1f} ms")  # fmt: skip

            start = time.perf_counter()
            jobs = [{"name": f"b{n}", "labels": ["rod"]} for n in range(burst)]
            await c.post(f"/_sim/repos/{REPO}/runs", json={"jobs": jobs})
            polls, assigned = 0, 0
            while assigned < burst:  # the rounds' jobs were never acquired
                handled = await handle(c, queue_url, queue, acquire, last)
                polls += 1
                if handled:
                    last, stats = handled
                    assigned = stats["totalAssignedJobs"]
            elapsed = time.perf_counter() - start
            print(f"burst of {burst} jobs: all assigned after {polls} polls in {elapsed:.2f} s")
    finally:
        emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.burst))
