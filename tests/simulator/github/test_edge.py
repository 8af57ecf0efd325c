"""Conditional requests at the REST edge: ETags, 304 Not Modified, and what they cost."""

from __future__ import annotations

import httpx
import pytest

from tests.simulator.github.conftest import REPO, GitHub

LISTINGS = ["/orgs/acme/actions/runners", f"/repos/{REPO}/actions/runners"]


def _remaining(headers: httpx.Headers) -> int:
    return int(headers["x-ratelimit-remaining"])


class TestConditionalRequests:
    @pytest.mark.parametrize("path", LISTINGS)
    async def test_an_unchanged_listing_is_304_and_free(self, github: GitHub, path: str) -> None:
        first = await github.client.get(path)
        etag = first.headers["etag"]
        assert etag.startswith('W/"')
        again = await github.client.get(path, headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == etag
        assert _remaining(again.headers) == _remaining(first.headers)  # not charged
        third = await github.client.get(path)
        assert _remaining(third.headers) == _remaining(first.headers) - 1

    async def test_a_change_gives_a_new_etag_and_the_full_answer(self, github: GitHub) -> None:
        path = LISTINGS[0]
        etag = (await github.client.get(path)).headers["etag"]
        await github.jit("org-1", ["a"], org="acme")
        changed = await github.client.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.json()["total_count"] == 1
        assert changed.headers["etag"] != etag

    async def test_a_304_page_keeps_its_link_header(self, github: GitHub) -> None:
        for index in range(3):
            await github.jit(f"org-{index}", ["a"], org="acme")
        params = {"per_page": 2}
        first = await github.client.get(LISTINGS[0], params=params)
        again = await github.client.get(
            LISTINGS[0], params=params, headers={"If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304 and again.headers["link"] == first.headers["link"]

    async def test_credentials_are_checked_first(self, github: GitHub) -> None:
        etag = (await github.client.get(LISTINGS[0])).headers["etag"]
        wrong = {"If-None-Match": etag, "Authorization": "Bearer nope"}
        assert (await github.client.get(LISTINGS[0], headers=wrong)).status_code == 401

    async def test_writes_carry_no_etag(self, github: GitHub) -> None:
        made = await github.client.post("/orgs/acme/actions/runners/registration-token")
        assert made.status_code == 201 and "etag" not in made.headers
