"""Tests for runners_on_demand.api_client: the URLs httpx builds; cookies as httpx keeps them."""

from __future__ import annotations

from http.cookiejar import CookieJar

import httpx
import pytest

from runners_on_demand.api_client import ApiClient, url_of

CASES = [
    ("http://127.0.0.1:4646", "/v1/job/rod%2Drunner/dispatch",
     {"idempotency_token": "rod-1-1:a b", "namespace": "ns x", "region": "eu/w"}),
    ("https://ghe.example/api/v3/", "/repos/o/r/actions/runners", {"name": "rod-1-1"}),
    ("https://ghe.example/api/v3", "/repos/o/r/actions/runners/generate-jitconfig", None),
    ("http://h:1/prefix", "/v1/var/nomad/jobs/a~b/c", {"cas": "0"}),
    ("https://ghe.example/api/v3", "repos/o/r", None),
    ("http://h//", "/v1/jobs", None),
    ("http://h", "/v1/jobs", {"prefix": "rod-runner/", "meta": "true"}),
    ("http://h", "/v1/vars", {"prefix": "nomad/jobs/ä é+&="}),
    ("http://h", "/v1/agent/health", {}),
    ("https://api.github.com", "https://api.github.com/repositories/1/runners?page=2", None),
]  # fmt: skip


@pytest.mark.parametrize(("base", "path", "params"), CASES)
def test_url_of_is_the_url_httpx_builds(
    base: str, path: str, params: dict[str, str] | None
) -> None:
    client = httpx.Client(base_url=base)
    wanted = client.build_request("GET", path, params=params).url
    # the same text (`rod hooks` keeps its ETag cache between runs by this URL)
    assert url_of(str(client.base_url), path, params) == str(wanted)


def answers(request: httpx.Request) -> httpx.Response:
    """A cookie for `/login`, the cookies sent back for anything else."""
    if request.url.path == "/login":
        return httpx.Response(200, headers={"set-cookie": "session=s1; Path=/"})
    return httpx.Response(200, json={"cookie": request.headers.get("cookie")})


@pytest.mark.parametrize(
    "headers",
    [{}, {"set-cookie": "a=1; Path=/"}, {"set-cookie2": 'b=2; Version="1"'}],
    ids=["none", "set-cookie", "set-cookie2"],
)
async def test_the_jar_holds_what_httpx_s_holds(headers: dict[str, str]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers))
    jars = []
    for kind in (ApiClient, httpx.AsyncClient):
        async with kind(base_url="http://h", transport=transport) as client:
            await client.get("/v1/jobs")
        jars.append(dict(client.cookies))
    assert jars[0] == jars[1]
    assert jars[0] == ({"a": "1"} if "set-cookie" in headers else {})


async def test_only_an_answer_that_sets_a_cookie_reaches_the_jar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(
        CookieJar, "extract_cookies", lambda jar, response, request: seen.append(request.host)
    )
    async with ApiClient(base_url="http://h", transport=httpx.MockTransport(answers)) as client:
        await client.get("/v1/jobs")
        await client.get("/login")
    assert seen == ["h"]


async def test_a_cookie_set_is_kept_and_sent_back_as_httpx_does() -> None:
    async with ApiClient(base_url="http://h", transport=httpx.MockTransport(answers)) as client:
        await client.get("/login")
        answer = await client.get("/v1/jobs")
    assert client.cookies.get("session") == "s1"
    assert answer.json() == {"cookie": "session=s1"}


async def test_cookies_given_are_sent() -> None:
    transport = httpx.MockTransport(answers)
    async with ApiClient(base_url="http://h", transport=transport, cookies={"a": "1"}) as client:
        answer = await client.get("/v1/jobs")
        client.cookies = {"b": "2"}
        again = await client.get("/v1/jobs")
    assert (answer.json(), again.json()) == ({"cookie": "a=1"}, {"cookie": "b=2"})
