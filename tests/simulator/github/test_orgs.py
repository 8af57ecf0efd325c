"""Organizations over HTTP: orgs, their repositories, runner groups, and which runner takes which
job (in-process and over a socket)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from simulator.github import GitHubEmulator
from tests.simulator.github.conftest import APP_ID, GitHub

GROUPS = "/orgs/acme/actions/runner-groups"


async def _repo(github: GitHub, full_name: str, *, private: bool = False) -> int:
    made = await github.client.post(
        "/_sim/repos", json={"full_name": full_name, "private": private}
    )
    assert made.status_code == 201, made.text
    repo_id: int = made.json()["id"]
    return repo_id


async def _job(github: GitHub, full_name: str, labels: list[str] | None = None) -> int:
    run = await github.client.post(
        f"/_sim/repos/{full_name}/runs", json={"jobs": [{"name": "b", "labels": labels or ["x"]}]}
    )
    assert run.status_code == 201, run.text
    job_id: int = run.json()["jobs"][0]["id"]
    return job_id


async def _group(github: GitHub, **body: Any) -> dict[str, Any]:
    made = await github.client.post(GROUPS, json=body)
    assert made.status_code == 201, made.text
    group: dict[str, Any] = made.json()
    return group


class TestCreateOrg:
    async def test_an_org_exists_before_it_has_repositories(self, github: GitHub) -> None:
        made = await github.client.post("/_sim/orgs", json={"login": "widgets"})
        assert made.status_code == 201 and made.json()["login"] == "widgets"
        org = (await github.client.get("/orgs/WIDGETS")).json()  # names ignore case
        assert (org["login"], org["type"], org["public_repos"]) == ("widgets", "Organization", 0)
        assert (await github.client.get("/orgs/widgets/repos")).json() == []
        groups = (await github.client.get("/orgs/widgets/actions/runner-groups")).json()
        assert [g["name"] for g in groups["runner_groups"]] == ["Default"]

    @pytest.mark.parametrize("login", ["acme", "ACME", "octo-user", "-bad", "a" * 40, "a b"])
    async def test_taken_or_malformed_logins_are_refused(self, github: GitHub, login: str) -> None:
        answer = await github.client.post("/_sim/orgs", json={"login": login})
        assert answer.status_code == 422
        state = (await github.client.get("/_sim/state")).json()
        assert state["orgs"] == ["acme"]

    async def test_configured_orgs_come_back_after_a_reset(self) -> None:
        emulator = GitHubEmulator(orgs=["widgets"], repos=["acme/app"], tokens=["t"])
        try:
            emulator.backend.create_org("gadgets")
            emulator.backend.reset()
            assert emulator.backend.dump()["orgs"] == ["acme", "widgets"]
        finally:
            emulator.stop()


class TestGetOrg:
    async def test_counts_repositories_and_a_user_is_no_org(self, github: GitHub) -> None:
        await _repo(github, "acme/secret", private=True)
        org = (await github.client.get("/orgs/acme")).json()
        assert (org["public_repos"], org["total_private_repos"]) == (1, 1)
        assert org["hooks_url"].endswith("/orgs/acme/hooks")
        assert (await github.client.get("/orgs/octo-user")).status_code == 404
        assert (await github.client.get("/orgs/nobody")).status_code == 404


class TestGetOrgInstallation:
    async def test_the_apps_installation_on_an_org_and_none_on_a_user(
        self, github: GitHub, app_key: tuple[str, str]
    ) -> None:
        now = int(github.backend.clock.now())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        app = {"Authorization": f"Bearer {jwt.encode(claims, app_key[0], algorithm='RS256')}"}
        by_org = await github.client.get("/orgs/ACME/installation", headers=app)
        by_repo = await github.client.get("/repos/acme/app/installation", headers=app)
        assert by_org.status_code == 200 and by_org.json() == by_repo.json()
        assert by_org.json()["account"]["login"] == "acme"
        for login in ("octo-user", "nobody"):
            answer = await github.client.get(f"/orgs/{login}/installation", headers=app)
            assert answer.status_code == 404


class TestListAccountRepos:
    async def test_public_repositories_of_a_user_or_an_org(self, github: GitHub) -> None:
        await _repo(github, "acme/secret", private=True)
        await _repo(github, "acme/lib")
        names = [r["full_name"] for r in (await github.client.get("/users/acme/repos")).json()]
        assert names == ["acme/app", "acme/lib"]
        mine = (await github.client.get("/users/octo-user/repos")).json()
        assert [r["full_name"] for r in mine] == ["octo-user/tool"]
        assert (await github.client.get("/users/nobody/repos")).status_code == 404


class TestRunnerGroups:
    async def test_create_get_update_delete(self, github: GitHub) -> None:
        group = await _group(github, name="gpu", visibility="selected")
        assert group["selected_repositories_url"].endswith(
            f"/runner-groups/{group['id']}/repositories"
        )
        assert (group["default"], group["allows_public_repositories"]) == (False, False)
        path = f"{GROUPS}/{group['id']}"
        patched = await github.client.patch(path, json={"name": "gpu-2", "visibility": "all"})
        assert (patched.json()["name"], patched.json()["visibility"]) == ("gpu-2", "all")
        assert "selected_repositories_url" not in patched.json()
        assert (await github.client.get(path)).json()["name"] == "gpu-2"
        assert (await github.client.delete(path)).status_code == 204
        assert (await github.client.get(path)).status_code == 404

    async def test_errors(self, github: GitHub) -> None:
        await _group(github, name="gpu")
        cases = [
            (github.client.post(GROUPS, json={"name": "GPU"}), 409),
            (github.client.post(GROUPS, json={"visibility": "all"}), 422),
            (github.client.post(GROUPS, json={"name": "x", "visibility": "internal"}), 422),
            (github.client.post(GROUPS, json={"name": "x", "runners": [424242]}), 404),
            (github.client.patch(f"{GROUPS}/1", json={"visibility": "all"}), 422),  # name needed
            (github.client.delete(f"{GROUPS}/1"), 422),  # the default group stays
            (github.client.get(f"{GROUPS}/999"), 404),
            (github.client.get("/orgs/nobody/actions/runner-groups"), 404),
        ]
        for request, status in cases:
            response = await request
            assert response.status_code == status, response.text
        names = [g["name"] for g in (await github.client.get(GROUPS)).json()["runner_groups"]]
        assert names == ["Default", "gpu"]

    async def test_visible_to_repository(self, github: GitHub) -> None:
        secret_id = await _repo(github, "acme/secret", private=True)
        await _group(
            github, name="some", visibility="selected", selected_repository_ids=[secret_id]
        )
        await _group(github, name="public-too", allows_public_repositories=True)

        async def visible(repo: str) -> list[str]:
            answer = await github.client.get(GROUPS, params={"visible_to_repository": repo})
            return [g["name"] for g in answer.json()["runner_groups"]]

        assert await visible("secret") == ["Default", "some", "public-too"]
        assert await visible("app") == ["public-too"]  # public: only the group that opts in
        assert await visible("nope") == []

    async def test_paginates(self, github: GitHub) -> None:
        for index in range(3):
            await _group(github, name=f"g{index}")
        page = await github.client.get(GROUPS, params={"per_page": 2, "page": 2})
        assert page.json()["total_count"] == 4 and len(page.json()["runner_groups"]) == 2
        assert 'rel="prev"' in page.headers["link"]


class TestGroupRepositories:
    async def test_list_set_add_remove(self, github: GitHub) -> None:
        app_id = (await github.client.get("/orgs/acme/repos")).json()[0]["id"]
        lib_id = await _repo(github, "acme/lib")
        group = await _group(github, name="g", visibility="selected")
        path = f"{GROUPS}/{group['id']}/repositories"

        async def listed() -> list[str]:
            return [r["full_name"] for r in (await github.client.get(path)).json()["repositories"]]

        assert (
            await github.client.put(path, json={"selected_repository_ids": [lib_id, app_id]})
        ).status_code == 204
        assert await listed() == ["acme/lib", "acme/app"]
        assert (await github.client.delete(f"{path}/{lib_id}")).status_code == 204
        assert (await github.client.put(f"{path}/{lib_id}")).status_code == 204
        assert await listed() == ["acme/app", "acme/lib"]

    async def test_errors_change_nothing(self, github: GitHub) -> None:
        other = await _repo(github, "other/thing")  # a repository of another org
        group = await _group(github, name="g", visibility="selected")
        path = f"{GROUPS}/{group['id']}/repositories"
        assert (await github.client.put(f"{path}/{other}")).status_code == 404
        body = {"selected_repository_ids": [other]}
        assert (await github.client.put(path, json=body)).status_code == 404
        assert (
            await github.client.put(path, json={"selected_repository_ids": ["1"]})
        ).status_code == 422
        assert (await github.client.put(f"{GROUPS}/1/repositories/{other}")).status_code == 404
        lib = await _repo(github, "acme/lib")
        assert (await github.client.put(f"{GROUPS}/1/repositories/{lib}")).status_code == 422
        assert (await github.client.get(path)).json() == {"total_count": 0, "repositories": []}


class TestGroupRunners:
    async def test_runners_move_between_groups(self, github: GitHub) -> None:
        group = await _group(github, name="g")
        one, _ = await github.jit("one", ["x"], org="acme")
        await github.jit("two", ["x"], org="acme", group=group["id"])
        path = f"{GROUPS}/{group['id']}/runners"

        async def members(group_id: int) -> list[str]:
            answer = await github.client.get(f"{GROUPS}/{group_id}/runners")
            return [r["name"] for r in answer.json()["runners"]]

        assert await members(group["id"]) == ["two"] and await members(1) == ["one"]
        assert (await github.client.put(f"{path}/{one}")).status_code == 204
        assert await members(group["id"]) == ["one", "two"]
        assert (await github.client.put(path, json={"runners": [one]})).status_code == 204
        assert await members(group["id"]) == ["one"] and await members(1) == ["two"]
        assert (await github.client.delete(f"{path}/{one}")).status_code == 204
        assert (await github.client.delete(f"{path}/{one}")).status_code == 404  # not in it
        runner = (await github.client.get(f"/orgs/acme/actions/runners/{one}")).json()
        assert runner["runner_group_id"] == 1

    async def test_deleting_a_group_returns_its_runners_to_default(self, github: GitHub) -> None:
        group = await _group(github, name="g")
        runner_id, _ = await github.jit("r", ["x"], org="acme", group=group["id"])
        assert (await github.client.delete(f"{GROUPS}/{group['id']}")).status_code == 204
        runner = (await github.client.get(f"/orgs/acme/actions/runners/{runner_id}")).json()
        assert runner["runner_group_id"] == 1

    async def test_only_org_runners_can_join(self, github: GitHub) -> None:
        repo_runner, _ = await github.jit("repo-runner", ["x"])
        group = await _group(github, name="g")
        path = f"{GROUPS}/{group['id']}/runners"
        assert (await github.client.put(f"{path}/{repo_runner}")).status_code == 404
        assert (await github.client.put(path, json={"runners": [repo_runner]})).status_code == 404
        assert (await github.client.get(path)).json()["total_count"] == 0


class TestWhoTakesWhichJob:
    async def test_default_group_serves_private_repositories_only(self, github: GitHub) -> None:
        await _repo(github, "acme/secret", private=True)
        public_job = await _job(github, "acme/app")
        private_job = await _job(github, "acme/secret")
        _, first = await github.jit("first", ["x"], org="acme")
        assert await github.take(first) == private_job
        _, second = await github.jit("second", ["x"], org="acme")
        assert await github.take(second) is None  # acme/app is public
        await github.client.patch(
            f"{GROUPS}/1", json={"name": "Default", "allows_public_repositories": True}
        )
        _, third = await github.jit("third", ["x"], org="acme")
        assert await github.take(third) == public_job
        job = (await github.client.get(f"/repos/acme/app/actions/jobs/{public_job}")).json()
        assert (job["runner_name"], job["runner_group_id"], job["runner_group_name"]) == (
            "third",
            1,
            "Default",
        )

    async def test_a_selected_group_serves_its_repositories_only(self, github: GitHub) -> None:
        chosen = await _repo(github, "acme/chosen", private=True)
        await _repo(github, "acme/other", private=True)
        group = await _group(
            github, name="gpu", visibility="selected", selected_repository_ids=[chosen]
        )
        other_job = await _job(github, "acme/other")
        chosen_job = await _job(github, "acme/chosen")
        _, gpu = await github.jit("gpu-1", ["x"], org="acme", group=group["id"])
        assert await github.take(gpu) == chosen_job  # the older job is not its repository's
        _, gpu2 = await github.jit("gpu-2", ["x"], org="acme", group=group["id"])
        assert await github.take(gpu2) is None
        _, default = await github.jit("default-1", ["x"], org="acme")
        assert await github.take(default) == other_job
        job = (await github.client.get(f"/repos/acme/chosen/actions/jobs/{chosen_job}")).json()
        assert (job["runner_group_id"], job["runner_group_name"]) == (group["id"], "gpu")

    async def test_runners_stay_in_their_scope(self, github: GitHub) -> None:
        await _repo(github, "other/secret", private=True)
        await _repo(github, "acme/lib", private=True)
        lib_job = await _job(github, "acme/lib")
        other_job = await _job(github, "other/secret")
        _, repo_runner = await github.jit("app-runner", ["x"])  # acme/app's own runner
        assert await github.take(repo_runner) is None
        _, org_runner = await github.jit("acme-runner", ["x"], org="acme")
        assert await github.take(org_runner) == lib_job
        _, other_runner = await github.jit("other-runner", ["x"], org="other")
        assert await github.take(other_runner) == other_job
