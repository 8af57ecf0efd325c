"""simulator.livedoc.redact: known secrets and credential shapes never survive."""

from __future__ import annotations

from simulator.livedoc.redact import MASK, redact, redact_path, redact_query


class TestRedact:
    def test_known_secrets_longest_first(self) -> None:
        assert redact("key abc and abcdef", ["abc", "abcdef"]) == f"key {MASK} and {MASK}"

    def test_credential_shapes(self) -> None:
        text = (
            "ghp_"
            + "a" * 36
            + " sha256="
            + "f" * 64
            + " sha1="
            + "e" * 40
            + " eyJhbGciOi.eyJpc3MiOiI0.c2lnbmF0dXJl Bearer tok3n-value "
            + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"
        )
        assert redact(text) == " ".join([MASK] * 6)

    def test_ordinary_text_is_kept(self) -> None:
        text = "POST /v1/job/github-runner/dispatch answered 503: No cluster leader"
        assert redact(text) == text


class TestRedactPath:
    def test_segments_stay_apart(self) -> None:
        path = "/_actions/sessions/7d60b6c2c431663e4a39d5d5e82e78c4/job"
        assert redact_path(path) == path
        assert redact_path(f"/x/{'A1b2' * 12}/y") == f"/x/{MASK}/y"


class TestRedactQuery:
    def test_credential_parameters_are_masked_whatever_their_value(self) -> None:
        query = "prefix=github-runner/&access_token=x&client_secret=y&wait=10"
        assert redact_query(query) == (
            f"prefix=github-runner/&access_token={MASK}&client_secret={MASK}&wait=10"
        )
