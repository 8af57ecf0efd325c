"""Organization webhooks over HTTP: CRUD, pings, every repository's events, deliveries."""

from __future__ import annotations

from typing import Any

from tests.simulator.github.conftest import REPO, GitHub, Receiver

HOOKS = "/orgs/acme/hooks"


def _body(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    config = {"url": receiver.url, "content_type": "json", "secret": "s3cret"}
    return {"name": "web", "config": config, "events": ["workflow_job"], **extra}


async def _org_hook(github: GitHub, receiver: Receiver) -> dict[str, Any]:
    made = await github.client.post(HOOKS, json=_body(receiver))
    assert made.status_code == 201, made.text
    hook: dict[str, Any] = made.json()
    return hook


class TestCreateHook:
    async def test_an_org_hook_is_created_and_pinged(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        hook = await _org_hook(github, receiver)
        assert (hook["type"], hook["config"]["secret"]) == ("Organization", "********")
        assert hook["url"].endswith(f"/orgs/acme/hooks/{hook['id']}")
        assert "test_url" not in hook and "last_response" not in hook
        assert github.backend.deliverer.wait_idle()
        (ping,) = receiver.events("ping")
        assert ping.headers["x-github-hook-installation-target-type"] == "organization"
        org_id = (await github.client.get("/orgs/acme")).json()["id"]
        assert ping.headers["x-github-hook-installation-target-id"] == str(org_id)
        assert "x-hub-signature-256" in ping.headers

    async def test_bad_requests_change_nothing(self, github: GitHub, receiver: Receiver) -> None:
        await _org_hook(github, receiver)
        nameless = _body(receiver)
        del nameless["name"]
        cases = [
            (HOOKS, nameless, 422),
            (HOOKS, _body(receiver, name="email"), 422),
            (HOOKS, _body(receiver), 422),  # the same URL and events again
            (HOOKS, {"name": "web", "config": {"url": "nope"}}, 422),
            ("/orgs/nobody/hooks", _body(receiver), 404),
            ("/orgs/octo-user/hooks", _body(receiver), 404),  # a user has no org hooks
        ]
        for path, body, status in cases:
            answer = await github.client.post(path, json=body)
            assert answer.status_code == status, (path, answer.text)
        message = (await github.client.post(HOOKS, json=nameless)).json()["message"]
        assert message == 'Invalid request.\n\n"name" wasn\'t supplied.'
        assert len((await github.client.get(HOOKS)).json()) == 1


class TestGetUpdateDelete:
    async def test_hooks_are_scoped_to_their_org_or_repository(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        org_hook = await _org_hook(github, receiver)
        repo_hook = await github.client.post(
            f"/repos/{REPO}/hooks", json={"config": {"url": receiver.url}}
        )
        repo_hook_id = repo_hook.json()["id"]
        assert (await github.client.get(f"{HOOKS}/{org_hook['id']}")).status_code == 200
        assert (await github.client.get(f"{HOOKS}/{repo_hook_id}")).status_code == 404
        assert (await github.client.get(f"/repos/{REPO}/hooks/{org_hook['id']}")).status_code == 404
        assert [h["id"] for h in (await github.client.get(HOOKS)).json()] == [org_hook["id"]]

    async def test_patch_without_secret_removes_it_and_delete_ends_deliveries(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        hook = await _org_hook(github, receiver)
        path = f"{HOOKS}/{hook['id']}"
        patched = await github.client.patch(
            path, json={"config": {"url": receiver.url, "content_type": "json"}}
        )
        assert "secret" not in patched.json()["config"]
        await github.run({"name": "b", "labels": ["x"]})
        assert (await github.client.delete(path)).status_code == 204
        await github.run({"name": "c", "labels": ["x"]})
        assert github.backend.deliverer.wait_idle()
        (queued,) = receiver.events("workflow_job")
        assert "x-hub-signature-256" not in queued.headers
        assert (await github.client.delete(path)).status_code == 404


class TestOrgDeliveries:
    async def test_every_repository_of_the_org_and_no_other(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        await _org_hook(github, receiver)
        for name in ("acme/lib", "other/thing"):
            await github.client.post("/_sim/repos", json={"full_name": name})
        for name in ("acme/app", "acme/lib", "other/thing", "octo-user/tool"):
            jobs = {"jobs": [{"name": name, "labels": ["x"]}]}
            assert (await github.client.post(f"/_sim/repos/{name}/runs", json=jobs)).is_success
        assert github.backend.deliverer.wait_idle()
        payloads = receiver.payloads()
        assert [p["repository"]["full_name"] for p in payloads] == ["acme/app", "acme/lib"]
        assert all(p["organization"]["login"] == "acme" for p in payloads)

    async def test_repo_and_org_hooks_share_the_event_guid(
        self, github: GitHub, receiver: Receiver
    ) -> None:
        await _org_hook(github, receiver)
        repo_hook = {"config": {"url": receiver.url, "content_type": "json"},
                     "events": ["workflow_job"]}  # fmt: skip
        await github.client.post(f"/repos/{REPO}/hooks", json=repo_hook)
        await github.run({"name": "b", "labels": ["x"]})
        assert github.backend.deliverer.wait_idle()
        org_copy, repo_copy = receiver.events("workflow_job")
        assert org_copy.headers["x-github-delivery"] == repo_copy.headers["x-github-delivery"]
        assert org_copy.headers["x-github-hook-id"] != repo_copy.headers["x-github-hook-id"]
        types = {r.headers["x-github-hook-installation-target-type"] for r in (org_copy, repo_copy)}
        assert types == {"organization", "repository"}

    async def test_list_get_and_redeliver(self, github: GitHub, receiver: Receiver) -> None:
        hook = await _org_hook(github, receiver)
        receiver.status = 500
        await github.run({"name": "b", "labels": ["x"]})
        assert github.backend.deliverer.wait_idle()
        path = f"{HOOKS}/{hook['id']}/deliveries"
        queued, ping = (await github.client.get(path)).json()
        repo_id = (await github.client.get("/orgs/acme/repos")).json()[0]["id"]
        assert (ping["event"], ping["repository_id"]) == ("ping", None)
        assert (queued["event"], queued["repository_id"]) == ("workflow_job", repo_id)
        failed = (await github.client.get(path, params={"status": "failure"})).json()
        assert [d["id"] for d in failed] == [queued["id"], ping["id"]]
        detail = (await github.client.get(f"{path}/{queued['id']}")).json()
        assert detail["request"]["headers"]["X-GitHub-Hook-Installation-Target-Type"] == (
            "organization"
        )
        receiver.status = 200
        assert (await github.client.post(f"{path}/{queued['id']}/attempts")).status_code == 202
        assert github.backend.deliverer.wait_idle()
        newest = (await github.client.get(path)).json()[0]
        assert (newest["guid"], newest["redelivery"], newest["status"]) == (
            queued["guid"],
            True,
            "OK",
        )
        assert (await github.client.get(f"{path}/999999")).status_code == 404

    async def test_deliveries_page_by_cursor(self, github: GitHub, receiver: Receiver) -> None:
        hook = await _org_hook(github, receiver)
        for index in range(2):
            await github.run({"name": f"j{index}", "labels": ["x"]})
        assert github.backend.deliverer.wait_idle()
        path = f"{HOOKS}/{hook['id']}/deliveries"
        seen: list[int] = []
        url: str | None = f"{path}?per_page=2"
        while url is not None:
            answer = await github.client.get(url)
            seen += [d["id"] for d in answer.json()]
            link = answer.headers.get("link")
            assert link is None or ("cursor=v1_" in link and 'rel="next"' in link)
            url = link[1 : link.index(">")] if link else None
        everything = (await github.client.get(path, params={"per_page": 100})).json()
        assert seen == [d["id"] for d in everything] and len(seen) == 3  # ping + 2 queued
        paged = await github.client.get(path, params={"per_page": 2, "page": 2})
        assert [d["id"] for d in paged.json()] == seen[:2]  # `page` means nothing here
