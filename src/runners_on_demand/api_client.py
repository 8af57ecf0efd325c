"""Calls to Nomad's and GitHub's APIs through httpx at less CPU each than its defaults take.

Two costs of `httpx.AsyncClient.request` that rod's calls never need (README, Performance):
- **The URL.** A path relative to `base_url`, with `params`, is parsed three times: the path,
  its merge with `base_url`, and the params merged in. `url_of` writes the absolute URL once, as
  httpx would build it (`base_url`'s path, then the path; the query is `urlencode` of the
  params, as `httpx.QueryParams` writes it), and httpx parses that once.
- **Cookies.** After every answer httpx builds urllib's request and response stand-ins for its
  cookie jar, whether or not the answer sets a cookie. Nomad's and GitHub's APIs set none;
  `ApiClient` hands an answer to the jar only when it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

__all__ = ["ApiClient", "url_of"]


def url_of(base: str, path: str, params: Mapping[str, str] | None = None) -> str:
    """`path` under `base` (a client's `str(base_url)`) with `params`, as httpx would build it.

    An absolute `path` (a pagination link) is kept. A `path` that carries a query takes no
    `params` (httpx would replace its query with them; rod never asks for that).
    """
    # httpx's merge: `base_url`'s path, which always ends in "/" (its text does not when that
    # path is "/"), then the path without its own leading "/"
    absolute = path.startswith(("https://", "http://")) or not base
    url = path if absolute else base.removesuffix("/") + "/" + path.lstrip("/")
    return f"{url}?{urlencode(params)}" if params else url


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, skipped for an answer that sets no cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        # The only header httpx's jar reads: its default policy ignores RFC 2965's Set-Cookie2
        # (http.cookiejar `DefaultCookiePolicy(rfc2965=False)`, `CookieJar.make_cookies`).
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class ApiClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose cookie jar looks only at answers that set a cookie."""

    def __init__(self, **options: Any) -> None:
        cookies = options.pop("cookies", None)
        super().__init__(**options)
        self.cookies = cookies

    @property
    def cookies(self) -> httpx.Cookies:
        """The client's cookies (httpx's property, kept in `_Cookies`)."""
        return self._api_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._api_cookies: httpx.Cookies = _Cookies(cookies)
