"""The GitHub port's reconciler calls against respx: listings, pages, ETags, runner removal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from runners_on_demand.errors import GitHubError, GitHubRateLimited
from runners_on_demand.observed import Runner
from runners_on_demand.ports.github import ETAG_CACHE_SIZE, GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth

API = "https://api.github.test"
RUNNERS = "/repos/octo/hello/actions/runners"
RUNS = "/repos/octo/hello/actions/runs"
REPOSITORY = {
    "full_name": "octo/hello",
    "html_url": "https://github.test/octo/hello",
    "fork": False,
}


def runner(runner_id: int, name: str, *, busy: bool = False) -> dict[str, Any]:
    labels = [{"id": 1, "name": "self-hosted", "type": "custom"}]
    return {"id": runner_id, "name": name, "status": "online", "busy": busy, "labels": labels}


def job(job_id: int, run_id: int, status: str = "queued") -> dict[str, Any]:
    return {
        "id": job_id,
        "run_id": run_id,
        "run_attempt": 1,
        "name": "build",
        "workflow_name": "CI",
        "labels": ["self-hosted", "linux"],
        "status": status,
        "runner_id": None,
        "created_at": "2027-01-15T08:00:00Z",
    }


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=API, assert_all_called=False)


@pytest.fixture
def github(router: respx.Router) -> GitHubHttp:
    client = httpx.AsyncClient(base_url=API, transport=httpx.MockTransport(router.async_handler))
    return GitHubHttp(client, PatAuth("ghp_test"))


class TestListRunners:
    async def test_reads_every_page_through_the_link_header(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        following = f'<{API}{RUNNERS}?per_page=100&page=2>; rel="next"'
        route = router.get(RUNNERS).mock(
            side_effect=[
                httpx.Response(
                    200, json={"runners": [runner(1, "rod-7-1")]}, headers={"link": following}
                ),
                httpx.Response(200, json={"runners": [runner(2, "build-box", busy=True)]}),
            ]
        )
        found = await github.list_runners("octo", "hello")
        assert found == [
            Runner("octo/hello", 1, "rod-7-1", "online", False, ("self-hosted",)),
            Runner("octo/hello", 2, "build-box", "online", True, ("self-hosted",)),
        ]
        first, second = route.calls
        assert first.request.url.params["per_page"] == "100"
        assert first.request.headers["authorization"] == "Bearer ghp_test"
        assert first.request.headers["x-github-api-version"] == "2022-11-28"
        assert second.request.url.params["page"] == "2"

    async def test_an_unchanged_listing_is_answered_from_the_cache_after_a_304(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        route = router.get(RUNNERS).mock(
            side_effect=[
                httpx.Response(
                    200, json={"runners": [runner(1, "rod-7-1")]}, headers={"etag": 'W/"abc"'}
                ),
                httpx.Response(304, headers={"etag": 'W/"abc"', "x-ratelimit-remaining": "4999"}),
                httpx.Response(200, json={"runners": []}, headers={"etag": 'W/"def"'}),
            ]
        )
        first = await github.list_runners("octo", "hello")
        second = await github.list_runners("octo", "hello")
        third = await github.list_runners("octo", "hello")
        assert "if-none-match" not in route.calls[0].request.headers
        assert route.calls[1].request.headers["if-none-match"] == 'W/"abc"'
        assert second == first and [r.id for r in first] == [1]
        assert github.rate_limit_remaining == 4999
        assert third == [] and route.calls[2].request.headers["if-none-match"] == 'W/"abc"'

    async def test_the_cache_is_bounded(self, router: respx.Router, github: GitHubHttp) -> None:
        router.get(url__regex=r"/repos/octo/r\d+/actions/runners").respond(
            200, json={"runners": []}, headers={"etag": '"x"'}
        )
        for n in range(ETAG_CACHE_SIZE + 5):
            await github.list_runners("octo", f"r{n}")
        assert len(github._etags) == ETAG_CACHE_SIZE

    async def test_a_next_link_to_another_host_is_not_followed(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        route = router.get(RUNNERS).respond(
            200,
            json={"runners": [runner(1, "rod-7-1")]},
            headers={"link": '<https://elsewhere.test/steal?page=2>; rel="next"'},
        )
        assert len(await github.list_runners("octo", "hello")) == 1
        assert route.call_count == 1

    async def test_a_rate_limit_is_reported_with_its_wait(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        router.get(RUNNERS).respond(
            403, json={"message": "API rate limit exceeded"}, headers={"retry-after": "42"}
        )
        with pytest.raises(GitHubRateLimited) as caught:
            await github.list_runners("octo", "hello")
        assert caught.value.retry_after == 42

    async def test_a_server_error_is_a_retryable_github_error(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        router.get(RUNNERS).respond(502, json={"message": "Server Error"})
        with pytest.raises(GitHubError) as caught:
            await github.list_runners("octo", "hello")
        assert caught.value.status == 502 and caught.value.retryable


class TestListQueuedJobs:
    async def test_queued_jobs_of_queued_and_in_progress_runs(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        runs = router.get(RUNS).mock(
            side_effect=lambda request: httpx.Response(
                200,
                json={
                    "workflow_runs": [{"id": 5, "repository": REPOSITORY}]
                    + (
                        [{"id": 6, "repository": REPOSITORY}]
                        if request.url.params["status"] == "in_progress"
                        else []
                    )
                },
            )
        )
        jobs5 = router.get(f"{RUNS}/5/jobs").respond(200, json={"jobs": [job(50, 5)]})
        router.get(f"{RUNS}/6/jobs").respond(
            200, json={"jobs": [job(60, 6, "in_progress"), job(61, 6), job(62, 6, "completed")]}
        )
        found = await github.list_queued_jobs("octo", "hello")
        assert [(q.event.job_id, q.event.run_id) for q in found] == [(50, 5), (61, 6)]
        assert found[0].event.repo_html_url == "https://github.test/octo/hello"
        assert sorted(c.request.url.params["status"] for c in runs.calls) == [
            "in_progress",
            "queued",
        ]
        assert jobs5.call_count == 1  # run 5 listed under both statuses is read once
        assert jobs5.calls.last.request.url.params["filter"] == "latest"


class TestFindRunner:
    async def test_asks_by_name_without_a_cached_answer(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        route = router.get(RUNNERS).respond(
            200, json={"runners": [runner(3, "rod-7-1", busy=True)]}, headers={"etag": '"a"'}
        )
        found = await github.find_runner("octo", "hello", "rod-7-1")
        assert found is not None and found.busy and found.id == 3
        await github.find_runner("octo", "hello", "rod-7-1")
        assert route.calls.last.request.url.params["name"] == "rod-7-1"
        assert "if-none-match" not in route.calls.last.request.headers

    async def test_none_when_no_runner_has_the_name(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        router.get(RUNNERS).respond(200, json={"runners": [runner(3, "rod-7-1-r1")]})
        assert await github.find_runner("octo", "hello", "rod-7-1") is None


class TestDeleteRunner:
    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (204, None, "removed"),
            (404, {"message": "Not Found"}, "gone"),
            (422, {"message": "Runner 'rod-7-1' is still running a job"}, "busy"),
        ],
    )
    async def test_the_answer_says_removed_gone_or_busy(
        self,
        router: respx.Router,
        github: GitHubHttp,
        status: int,
        body: dict[str, str] | None,
        expected: str,
    ) -> None:
        route = router.delete(f"{RUNNERS}/23").respond(status, json=body)
        assert await github.delete_runner("octo", "hello", 23) == expected
        assert route.calls.last.request.headers["authorization"] == "Bearer ghp_test"

    async def test_other_failures_raise(self, router: respx.Router, github: GitHubHttp) -> None:
        router.delete(f"{RUNNERS}/23").respond(500, json={"message": "boom"})
        with pytest.raises(GitHubError, match="500 boom"):
            await github.delete_runner("octo", "hello", 23)

    async def test_a_connection_error_is_a_retryable_github_error(
        self, router: respx.Router, github: GitHubHttp
    ) -> None:
        router.delete(f"{RUNNERS}/23").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(GitHubError) as caught:
            await github.delete_runner("octo", "hello", 23)
        assert caught.value.retryable
