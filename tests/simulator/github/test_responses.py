"""The REST API over HTTP, in-process and over a socket: status codes, bodies, headers."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.simulator.github.conftest import APP_ID, REPO, GitHub, Receiver

RUNNERS = f"/repos/{REPO}/actions/runners"


class TestEdge:
    async def test_missing_token_requires_authentication(self, github: GitHub) -> None:
        response = await github.client.get("/user/repos", headers={"Authorization": ""})
        assert response.status_code == 401
        assert response.json()["message"] == "Requires authentication"

    @pytest.mark.parametrize("value", ["Bearer nope", "token nope", "Basic x"])
    async def test_bad_token_is_bad_credentials(self, github: GitHub, value: str) -> None:
        response = await github.client.get("/user/repos", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.json() == {
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        }

    async def test_token_scheme_works_too(self, github: GitHub) -> None:
        token = github.client.headers["Authorization"].split()[1]
        response = await github.client.get(
            "/user/repos", headers={"Authorization": f"token {token}"}
        )
        assert response.status_code == 200

    async def test_no_user_agent_is_forbidden(self, github: GitHub) -> None:
        request = github.client.build_request("GET", "/user/repos")
        del request.headers["User-Agent"]
        response = await github.client.send(request)
        assert response.status_code == 403 and "User-Agent" in response.text

    @pytest.mark.parametrize(
        ("sent", "selected"), [(None, "2022-11-28"), ("2026-03-10", "2026-03-10")]
    )
    async def test_api_version_is_echoed(
        self, github: GitHub, sent: str | None, selected: str
    ) -> None:
        headers = {"X-GitHub-Api-Version": sent} if sent else {}
        response = await github.client.get("/user/repos", headers=headers)
        assert response.headers["x-github-api-version-selected"] == selected

    async def test_2026_03_10_applies_its_breaking_changes(self, github: GitHub) -> None:
        new = {"X-GitHub-Api-Version": "2026-03-10"}
        assert "rate" not in (await github.client.get("/rate_limit", headers=new)).json()
        assert "rate" in (await github.client.get("/rate_limit")).json()
        repos = (await github.client.get("/user/repos", headers=new)).json()
        assert "has_downloads" not in repos[0]

    async def test_unknown_api_version_is_400(self, github: GitHub) -> None:
        response = await github.client.get(
            "/user/repos", headers={"X-GitHub-Api-Version": "2099-01-01"}
        )
        assert response.status_code == 400
        assert "not a supported version" in response.json()["message"]

    async def test_rate_limit_headers_count_down_then_403(self, github: GitHub) -> None:
        github.backend.credentials.rate_limit = 2
        first = await github.client.get("/user/repos")
        second = await github.client.get("/user/repos")
        third = await github.client.get("/user/repos")
        assert [
            first.headers["x-ratelimit-remaining"],
            second.headers["x-ratelimit-remaining"],
        ] == ["1", "0"]
        assert third.status_code == 403 and third.headers["x-ratelimit-remaining"] == "0"
        assert third.json()["message"].startswith("API rate limit exceeded")
        assert int(third.headers["x-ratelimit-reset"]) > time.time()
        assert third.headers["x-ratelimit-resource"] == "core"
        free = await github.client.get("/rate_limit")  # does not count
        assert free.status_code == 200 and free.json()["rate"]["remaining"] == 0

    async def test_unknown_repo_and_path_are_404(self, github: GitHub) -> None:
        for path in ("/repos/acme/nope/actions/runners", "/no/such/thing"):
            response = await github.client.get(path)
            assert response.status_code == 404 and response.json()["message"] == "Not Found"


class TestRunnerEndpoints:
    async def test_registration_and_remove_tokens_last_an_hour(self, github: GitHub) -> None:
        for kind in ("registration-token", "remove-token"):
            response = await github.client.post(f"{RUNNERS}/{kind}")
            assert response.status_code == 201
            assert len(response.json()["token"]) == 29
            assert response.json()["expires_at"].endswith("Z")

    async def test_jitconfig_creates_an_offline_idle_ephemeral_runner(self, github: GitHub) -> None:
        runner_id, _ = await github.jit("r1", ["self-hosted", "GPU"])
        runner = (await github.client.get(f"{RUNNERS}/{runner_id}")).json()
        assert (runner["status"], runner["busy"], runner["ephemeral"]) == ("offline", False, True)
        assert [(x["name"], x["type"]) for x in runner["labels"]] == [
            ("self-hosted", "custom"),
            ("GPU", "custom"),
        ]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"name": "r", "labels": ["a"]}, 422),
            ({"name": "r", "runner_group_id": 1, "labels": []}, 422),
            ({"name": "r", "runner_group_id": 1, "labels": ["a"] * 101}, 422),
            ({"name": "r", "runner_group_id": 7, "labels": ["a"]}, 404),
        ],
    )
    async def test_jitconfig_validation(self, github: GitHub, body: dict, status: int) -> None:
        response = await github.client.post(f"{RUNNERS}/generate-jitconfig", json=body)
        assert response.status_code == status
        assert (await github.client.get(RUNNERS)).json()["total_count"] == 0

    async def test_jitconfig_duplicate_name_is_409(self, github: GitHub) -> None:
        await github.jit("r1", ["a"])
        body = {"name": "r1", "runner_group_id": 1, "labels": ["a"]}
        response = await github.client.post(f"{RUNNERS}/generate-jitconfig", json=body)
        assert response.status_code == 409
        # GitHub's text as clients log it (ubicloud/ubicloud#692)
        expected = "Already exists - A runner with the name r1 already exists."
        assert response.json()["message"] == expected

    async def test_org_jitconfig(self, github: GitHub) -> None:
        body = {"name": "org-r", "runner_group_id": 1, "labels": ["a"]}
        response = await github.client.post(
            "/orgs/acme/actions/runners/generate-jitconfig", json=body
        )
        assert response.status_code == 201
        listed = (await github.client.get("/orgs/acme/actions/runners")).json()
        assert [r["name"] for r in listed["runners"]] == ["org-r"]

    async def test_list_filters_by_name_and_paginates(self, github: GitHub) -> None:
        for index in range(3):
            await github.jit(f"r{index}", ["a"])
        named = (await github.client.get(RUNNERS, params={"name": "r1"})).json()
        assert [r["name"] for r in named["runners"]] == ["r1"] and named["total_count"] == 1
        page = await github.client.get(RUNNERS, params={"per_page": 2, "page": 2})
        assert page.json()["total_count"] == 3 and len(page.json()["runners"]) == 1
        assert 'rel="first"' in page.headers["link"]

    async def test_delete_runner(self, github: GitHub) -> None:
        runner_id, _ = await github.jit("r1", ["a"])
        assert (await github.client.delete(f"{RUNNERS}/{runner_id}")).status_code == 204
        assert (await github.client.get(f"{RUNNERS}/{runner_id}")).status_code == 404


class TestRunsAndJobs:
    async def test_runs_filter_by_status_and_list_jobs(self, github: GitHub) -> None:
        run = await github.run({"name": "build", "labels": ["a"]})
        queued = (await github.client.get(f"/repos/{REPO}/actions/runs?status=queued")).json()
        assert [r["id"] for r in queued["workflow_runs"]] == [run["id"]]
        done = (await github.client.get(f"/repos/{REPO}/actions/runs?status=completed")).json()
        assert done == {"total_count": 0, "workflow_runs": []}
        jobs = (await github.client.get(f"/repos/{REPO}/actions/runs/{run['id']}/jobs")).json()
        assert [j["name"] for j in jobs["jobs"]] == ["build"]

    async def test_job_cancelled_before_a_runner_shows_runner_id_0(self, github: GitHub) -> None:
        run = await github.run({"name": "build", "labels": ["a"]})
        job_id = run["jobs"][0]["id"]
        assert run["jobs"][0]["runner_id"] is None
        await github.client.post(f"/_sim/jobs/{job_id}/cancel")
        job = (await github.client.get(f"/repos/{REPO}/actions/jobs/{job_id}")).json()
        assert (job["status"], job["conclusion"], job["runner_id"], job["steps"]) == (
            "completed",
            "cancelled",
            0,
            [],
        )


class TestHooks:
    async def test_defaults_masked_secret_and_ping(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        body = {"config": {"url": receiver.url, "secret": "s3cret"}}
        created = await github.client.post(f"/repos/{REPO}/hooks", json=body)
        assert created.status_code == 201
        hook = created.json()
        assert hook["events"] == ["push"] and hook["config"]["content_type"] == "form"
        assert (
            hook["config"]["secret"] == "********" and hook["last_response"]["status"] == "unused"
        )
        assert github.backend.deliverer.wait_idle()
        (ping,) = receiver.events("ping")
        assert ping.body.startswith(b"payload=")

    async def test_patch_without_secret_removes_it(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        body = {"config": {"url": receiver.url, "secret": "s3cret"}, "events": ["workflow_job"]}
        hook_id = (await github.client.post(f"/repos/{REPO}/hooks", json=body)).json()["id"]
        patched = await github.client.patch(
            f"/repos/{REPO}/hooks/{hook_id}", json={"config": {"url": receiver.url}}
        )
        assert patched.status_code == 200 and "secret" not in patched.json()["config"]
        assert github.backend.deliverer.wait_idle()
        await github.client.post(f"/repos/{REPO}/hooks/{hook_id}/pings")
        assert github.backend.deliverer.wait_idle()
        first, second = receiver.events("ping")
        assert (
            "x-hub-signature-256" in first.headers and "x-hub-signature-256" not in second.headers
        )

    async def test_missing_url_is_422_and_delete_is_204(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        for config in ({}, {"url": "ftp://example.test/"}, {"url": "x", "content_type": "xml"}):
            bad = await github.client.post(f"/repos/{REPO}/hooks", json={"config": config})
            assert bad.status_code == 422 and bad.json()["errors"]
        assert (await github.client.get(f"/repos/{REPO}/hooks")).json() == []
        made = await github.client.post(
            f"/repos/{REPO}/hooks", json={"config": {"url": receiver.url}}
        )
        url = f"/repos/{REPO}/hooks/{made.json()['id']}"
        assert (await github.client.delete(url)).status_code == 204
        assert (await github.client.get(url)).status_code == 404

    async def test_deliveries_and_redelivery(self, github: GitHub, receiver: Receiver) -> None:
        body = {"config": {"url": receiver.url, "content_type": "json"}, "events": ["workflow_job"]}
        hook_id = (await github.client.post(f"/repos/{REPO}/hooks", json=body)).json()["id"]
        await github.run({"name": "build", "labels": ["a"]})
        assert github.backend.deliverer.wait_idle()
        base = f"/repos/{REPO}/hooks/{hook_id}/deliveries"
        items = (await github.client.get(base)).json()
        assert [(i["event"], i["status"]) for i in items] == [
            ("workflow_job", "OK"),
            ("ping", "OK"),
        ]
        detail = (await github.client.get(f"{base}/{items[0]['id']}")).json()
        assert detail["request"]["payload"]["action"] == "queued"
        again = await github.client.post(f"{base}/{items[0]['id']}/attempts")
        assert again.status_code == 202
        assert github.backend.deliverer.wait_idle()
        newest = (await github.client.get(base)).json()[0]
        assert newest["redelivery"] is True and newest["guid"] == items[0]["guid"]


class TestRepos:
    async def test_user_repos_link_pagination(self, github: GitHub) -> None:
        one_page = await github.client.get("/user/repos")
        assert "link" not in one_page.headers and len(one_page.json()) == 2
        page = await github.client.get("/user/repos", params={"per_page": 1})
        assert [r["full_name"] for r in page.json()] == ["acme/app"]
        assert 'rel="next"' in page.headers["link"] and 'rel="last"' in page.headers["link"]
        assert page.json()[0]["permissions"]["admin"] is True

    async def test_type_with_visibility_is_422(self, github: GitHub) -> None:
        response = await github.client.get("/user/repos?type=all&visibility=all")
        assert response.status_code == 422

    async def test_org_repos(self, github: GitHub) -> None:
        response = await github.client.get("/orgs/acme/repos")
        assert [r["full_name"] for r in response.json()] == ["acme/app"]
        assert (await github.client.get("/orgs/octo-user/repos")).status_code == 404


def _jwt(
    private_key: str, *, iat: float | None = None, exp: float | None = None, iss: str = str(APP_ID)
) -> str:
    now = time.time()
    claims = {
        "iat": int(iat if iat is not None else now - 60),
        "exp": int(exp if exp is not None else now + 540),
        "iss": iss,
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


class TestApp:
    async def test_installation_token_flow_and_expiry(
        self, github: GitHub, app_key: tuple[str, str]
    ) -> None:
        app_auth = {"Authorization": f"Bearer {_jwt(app_key[0])}"}
        found = await github.client.get(f"/repos/{REPO}/installation", headers=app_auth)
        assert found.status_code == 200 and found.json()["app_id"] == APP_ID
        minted = await github.client.post(
            found.json()["access_tokens_url"].split(github.emulator.url)[1], headers=app_auth
        )
        assert minted.status_code == 201
        token_auth = {"Authorization": f"token {minted.json()['token']}"}
        assert (await github.client.get(RUNNERS, headers=token_auth)).status_code == 200
        await github.client.post("/_sim/clock", json={"advance_seconds": 3600})
        assert (await github.client.get(RUNNERS, headers=token_auth)).status_code == 401

    @pytest.mark.parametrize(
        "claims",
        [
            {"exp": time.time() - 10},
            {"exp": time.time() + 3600},
            {"iss": "1"},
        ],
    )
    async def test_bad_jwts_are_401(
        self, github: GitHub, app_key: tuple[str, str], claims: dict
    ) -> None:
        headers = {"Authorization": f"Bearer {_jwt(app_key[0], **claims)}"}
        response = await github.client.get(f"/repos/{REPO}/installation", headers=headers)
        assert response.status_code == 401

    async def test_get_app_answers_the_app_for_its_jwt(
        self, github: GitHub, app_key: tuple[str, str]
    ) -> None:
        # GitHubHttp.check() (`/readyz` under App auth) calls it
        headers = {"Authorization": f"Bearer {_jwt(app_key[0])}"}
        response = await github.client.get("/app", headers=headers)
        assert response.status_code == 200, response.text
        assert (response.json()["id"], response.json()["slug"]) == (APP_ID, "runners-on-demand")

    async def test_get_app_refuses_a_jwt_of_another_key_or_none(
        self, github: GitHub, other_app_key: str
    ) -> None:
        # rod's /readyz treats 401 as "not ready" and any 4xx but 401 as reachable-and-fine.
        other = {"Authorization": f"Bearer {_jwt(other_app_key)}"}
        for headers in (other, {"Authorization": ""}):
            response = await github.client.get("/app", headers=headers)
            assert response.status_code == 401, response.text
        assert response.json()["message"] == "Requires authentication"

    async def test_a_personal_token_is_not_a_jwt(self, github: GitHub) -> None:
        response = await github.client.get(f"/repos/{REPO}/installation")
        assert response.status_code == 401
        assert response.json()["message"] == "A JSON web token could not be decoded"


async def test_both_modes_answer_alike(github: GitHub) -> None:
    assert github.mode in ("asgi", "server")
    response = await github.client.get("/user/repos")
    assert isinstance(response, httpx.Response) and response.status_code == 200
