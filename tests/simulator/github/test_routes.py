"""The route table's fallbacks: what GitHub answers where no route serves the request."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import jwt
import pytest

from tests.simulator.github.conftest import APP_ID, AUTH, REPO, GitHub

NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}


class TestUnrouted:
    async def test_unknown_path_with_bad_credentials_is_401(self, github: GitHub) -> None:
        # GitHub authenticates before it routes.
        headers = {"Authorization": "Bearer wrong"}
        response = await github.client.get(f"/repos/{REPO}/nope", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["message"] == "Bad credentials"

    @pytest.mark.parametrize("headers", [{"Authorization": ""}, AUTH], ids=["none", "token"])
    async def test_unknown_path_without_or_with_good_credentials_is_404(
        self, github: GitHub, headers: dict[str, str]
    ) -> None:
        response = await github.client.get(f"/repos/{REPO}/nope", headers=headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    async def test_unknown_path_with_the_apps_jwt_is_404(
        self, github: GitHub, app_key: tuple[str, str]
    ) -> None:
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        headers = {"Authorization": f"Bearer {jwt.encode(claims, app_key[0], 'RS256')}"}
        response = await github.client.get("/app/nope", headers=headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    async def test_another_method_of_a_known_path_is_githubs_json_404(self, github: GitHub) -> None:
        # GitHub has no 405: e.g. PUT on the runners list is a plain Not Found.
        for path in (f"/repos/{REPO}/actions/runners", f"/api/v3/repos/{REPO}/actions/runners"):
            response = await github.client.put(path)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)

    async def test_another_method_of_a_known_path_with_bad_credentials_is_401(
        self, github: GitHub
    ) -> None:
        headers = {"Authorization": "token wrong"}
        response = await github.client.put(f"/repos/{REPO}/actions/runners", headers=headers)
        assert response.status_code == 401

    async def test_the_emulators_own_apis_keep_a_plain_405(self, github: GitHub) -> None:
        response = await github.client.put("/_sim/reset", headers={"Authorization": "Bearer x"})
        assert (response.status_code, response.text) == (405, "Method Not Allowed")
        assert (await github.client.get("/_sim/nope")).status_code == 404


class TestDate:
    @pytest.mark.parametrize("path", [f"/repos/{REPO}/actions/runners", f"/repos/{REPO}/nope"])
    async def test_every_answer_is_dated_by_the_clock_of_its_rate_limit(
        self, github: GitHub, path: str
    ) -> None:
        # A client reads x-ratelimit-reset against Date (GitHub's clock, not its own).
        github.backend.clock.advance(86_400)
        response = await github.client.get(path, headers=AUTH)
        (date,) = response.headers.get_list("date")
        assert parsedate_to_datetime(date).timestamp() == int(github.backend.clock.now())
