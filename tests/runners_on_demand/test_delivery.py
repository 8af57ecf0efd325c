"""Tests for runners_on_demand.delivery: signature, grammar, parsing of real payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from runners_on_demand.delivery import OtherEvent, Ping, parse_delivery, verify_signature
from runners_on_demand.errors import ConfigError, MalformedDelivery, SignatureMismatch
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent

SECRET = "test-webhook-secret"
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "workflow_job"
# Examples in the package that lack workflow_job.run_attempt (see the samples README).
WITHOUT_ATTEMPT = {"00.in_progress.json"}
EXAMPLES = sorted(path.name for path in SAMPLES.glob("*.json"))
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def sign(body: bytes, secret: str = SECRET) -> str:
    """The X-Hub-Signature-256 value GitHub would send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(document: Any, content_type: str) -> bytes:
    """A body in either of GitHub's content types."""
    text = json.dumps(document)
    return urlencode({"payload": text}).encode() if content_type == FORM else text.encode()


def headers(body: bytes, event: str = "workflow_job", content_type: str = JSON) -> dict[str, str]:
    """The headers of a signed delivery of `body`."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": sign(body),
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/044aadd",
    }


def deliver(document: Any, content_type: str = JSON, event: str = "workflow_job") -> Any:
    """Sign and parse `document`."""
    body = encode(document, content_type)
    return parse_delivery(headers(body, event, content_type), body, secret=SECRET)


def sample(name: str = "06.queued.json") -> dict[str, Any]:
    """A vendored example payload."""
    document: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return document


class TestSamples:
    """The vendored examples are what GitHub's own webhook description says they are."""

    SCHEMAS = {
        "queued": "webhook-workflow-job-queued",
        "waiting": "webhook-workflow-job-waiting",
        "in_progress": "webhook-workflow-job-in-progress",
        "completed": "webhook-workflow-job-completed",
    }

    def errors(self, name: str) -> list[str]:
        """Schema errors of a sample against @octokit/openapi-webhooks (vendored by the sim)."""
        from openapi_schema_validator import OAS31Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        spec = json.loads((ROOT / "simulator" / "github" / "openapi" / "webhooks.json").read_text())
        registry = Registry().with_resource(
            "urn:webhooks", Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        document = sample(name)
        schema = {"$ref": f"urn:webhooks#/components/schemas/{self.SCHEMAS[document['action']]}"}
        validator = OAS31Validator(schema, registry=registry)
        return [error.message for error in validator.iter_errors(document)]

    def test_there_are_examples_of_every_action(self) -> None:
        actions = {sample(name)["action"] for name in EXAMPLES}
        assert actions == set(self.SCHEMAS)

    @pytest.mark.parametrize("name", sorted(set(EXAMPLES) - WITHOUT_ATTEMPT))
    def test_examples_match_githubs_schema(self, name: str) -> None:
        assert self.errors(name) == []

    @pytest.mark.parametrize("name", sorted(WITHOUT_ATTEMPT))
    def test_old_docs_example_lacks_run_attempt(self, name: str) -> None:
        assert "'run_attempt' is a required property" in self.errors(name)

    def test_readme_lists_every_example(self) -> None:
        readme = (SAMPLES / "README.md").read_text()
        assert all(f"`{name}`" in readme for name in EXAMPLES)
        assert "MIT" in readme and "@octokit/webhooks-examples" in readme


class TestVerifySignature:
    def test_docs_test_vector(self) -> None:
        # https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
        signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        verify_signature(b"Hello, World!", signature, secret="It's a Secret to Everybody")

    def test_docs_vector_with_another_secret_fails(self) -> None:
        signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        with pytest.raises(SignatureMismatch, match="does not match"):
            verify_signature(b"Hello, World!", signature, secret="another secret")

    @pytest.mark.parametrize("signature", [None, ""])
    def test_missing(self, signature: str | None) -> None:
        with pytest.raises(SignatureMismatch, match="missing X-Hub-Signature-256"):
            verify_signature(b"{}", signature, secret=SECRET)

    def test_sha1_value_is_refused(self) -> None:
        digest = hmac.new(SECRET.encode(), b"{}", hashlib.sha1).hexdigest()
        with pytest.raises(SignatureMismatch, match="sha256=<hex>"):
            verify_signature(b"{}", f"sha1={digest}", secret=SECRET)

    @pytest.mark.parametrize(
        "signature", ["sha256", "757107ea", "sha256=", "sha256=zz", "sha256=é"]
    )
    def test_garbage(self, signature: str) -> None:
        with pytest.raises(SignatureMismatch):
            verify_signature(b"Hello, World!", signature, secret=SECRET)

    def test_uppercase_hex_is_the_same_digest(self) -> None:
        verify_signature(b"x", sign(b"x").upper().replace("SHA256=", "sha256="), secret=SECRET)

    def test_empty_secret_refuses_everything(self) -> None:
        with pytest.raises(ConfigError):
            verify_signature(b"x", sign(b"x", ""), secret="")

    @given(body=st.binary(max_size=256), secret=st.text(min_size=1, max_size=40))
    def test_any_body_signed_with_the_secret_verifies(self, body: bytes, secret: str) -> None:
        verify_signature(body, sign(body, secret), secret=secret)

    @given(body=st.binary(min_size=1, max_size=256), index=st.integers(min_value=0))
    def test_any_changed_byte_fails(self, body: bytes, index: int) -> None:
        position = index % len(body)
        changed = body[:position] + bytes([body[position] ^ 1]) + body[position + 1 :]
        with pytest.raises(SignatureMismatch):
            verify_signature(changed, sign(body), secret=SECRET)


class TestRepeatedHeaders:
    """A header read twice would be checked in one copy and believed in another (issue 10)."""

    @pytest.mark.parametrize(
        ("name", "error", "message"),
        [
            ("X-Hub-Signature-256", SignatureMismatch, "X-Hub-Signature-256 header sent more"),
            ("X-GitHub-Delivery", MalformedDelivery, "X-Github-Delivery header sent more"),
            ("x-github-event", MalformedDelivery, "X-Github-Event header sent more"),
        ],
    )
    def test_a_repeated_header_is_refused(
        self, name: str, error: type[Exception], message: str
    ) -> None:
        body = encode(sample(), JSON)
        raw = [(k.lower().encode(), v.encode()) for k, v in headers(body).items()]
        value = dict(raw)[name.lower().encode()]
        repeated = Headers(raw=[*raw, (name.lower().encode(), value)])
        with pytest.raises(error, match=message):
            parse_delivery(repeated, body, secret=SECRET)

    def test_an_unsigned_repeat_is_a_bad_signature(self) -> None:
        # Only a signed delivery's headers are worth a "malformed" (the edge trusts its event).
        body = encode(sample(), JSON)
        raw = [(k.lower().encode(), v.encode()) for k, v in headers(body).items()]
        repeated = Headers(raw=[*raw, (b"x-github-event", b"forged")])
        with pytest.raises(SignatureMismatch, match="does not match"):
            parse_delivery(repeated, body, secret="not-" + SECRET)

    def test_other_headers_may_repeat(self) -> None:
        body = encode(sample(), JSON)
        raw = [(k.lower().encode(), v.encode()) for k, v in headers(body).items()]
        repeated = Headers(raw=[*raw, (b"accept", b"*/*"), (b"accept", b"*/*")])
        assert isinstance(parse_delivery(repeated, body, secret=SECRET), WorkflowJobEvent)


class TestParseDelivery:
    @pytest.mark.parametrize("content_type", [JSON, FORM])
    @pytest.mark.parametrize("name", sorted(set(EXAMPLES) - WITHOUT_ATTEMPT))
    def test_every_real_example(self, name: str, content_type: str) -> None:
        document = sample(name)
        event = deliver(document, content_type)
        job, repo = document["workflow_job"], document["repository"]
        assert isinstance(event, WorkflowJobEvent)
        assert (event.action, event.status, event.conclusion) == (
            document["action"],
            job["status"],
            job["conclusion"],
        )
        assert (event.job_id, event.run_id, event.run_attempt) == (
            job["id"],
            job["run_id"],
            job["run_attempt"],
        )
        assert event.labels == tuple(job["labels"])
        assert (event.job_name, event.workflow_name) == (job["name"], job.get("workflow_name"))
        assert event.repo_full_name == repo["full_name"] == f"{event.repo_owner}/{event.repo_name}"
        assert event.repo_name == repo["name"]
        assert (event.repo_html_url, event.fork) == (repo["html_url"], repo["fork"])
        assert event.installation_id == document.get("installation", {}).get("id")
        assert event.runner_id == (job["runner_id"] or None)
        key = "292430182/72d3162e-cc78-11e3-81ab-4c9367dc0958"
        assert event.origin == Origin(Intake.WEBHOOK, key)

    def test_queued_examples_carry_no_runner(self) -> None:
        queued = [deliver(sample(name)) for name in EXAMPLES if ".queued" in name]
        assert queued, "the samples must include queued examples"
        assert all(event.runner_id is None and event.runner_name is None for event in queued)

    @pytest.mark.parametrize("name", sorted(WITHOUT_ATTEMPT))
    def test_example_without_run_attempt_is_refused_by_name(self, name: str) -> None:
        with pytest.raises(MalformedDelivery, match=r"^workflow_job\.run_attempt is missing$"):
            deliver(sample(name))

    def test_header_names_are_case_insensitive(self) -> None:
        body = encode(sample(), JSON)
        lowered = {name.lower(): value for name, value in headers(body).items()}
        shouted = {name.upper(): value for name, value in headers(body).items()}
        assert parse_delivery(lowered, body, secret=SECRET) == parse_delivery(
            shouted, body, secret=SECRET
        )

    def test_content_type_parameters_are_ignored(self) -> None:
        assert isinstance(deliver(sample(), f"{JSON}; charset=utf-8"), WorkflowJobEvent)

    def test_ping(self) -> None:
        ping = deliver({"zen": "Design for failure.", "hook_id": 292430182}, event="ping")
        assert ping == Ping(delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958", hook_id="292430182")
        assert ping.event == "ping"

    def test_other_event_is_not_parsed(self) -> None:
        body = b"not json at all"
        other = parse_delivery(headers(body, event="push"), body, secret=SECRET)
        assert other == OtherEvent("push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "292430182")

    def test_other_event_still_needs_the_signature(self) -> None:
        body = b"{}"
        forged = headers(body, event="push") | {"X-Hub-Signature-256": sign(body, "guess")}
        with pytest.raises(SignatureMismatch):
            parse_delivery(forged, body, secret=SECRET)

    def test_sha1_only_is_refused(self) -> None:
        body = encode(sample(), JSON)
        sent = headers(body)
        del sent["X-Hub-Signature-256"]
        sent["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, "sha1").hexdigest()
        with pytest.raises(SignatureMismatch, match="SHA-1"):
            parse_delivery(sent, body, secret=SECRET)

    def test_signature_is_checked_before_anything_else(self) -> None:
        body = b"{broken"
        sent = headers(body) | {"X-Hub-Signature-256": sign(body, "wrong")}
        with pytest.raises(SignatureMismatch):
            parse_delivery(sent, body, secret=SECRET)

    def test_form_signature_covers_the_raw_form_body(self) -> None:
        document = sample()
        body = encode(document, FORM)
        sent = headers(body, content_type=FORM)
        sent["X-Hub-Signature-256"] = sign(json.dumps(document).encode())
        with pytest.raises(SignatureMismatch):
            parse_delivery(sent, body, secret=SECRET)

    @pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
    def test_unsupported_content_type(self, content_type: str) -> None:
        body = encode(sample(), JSON)
        with pytest.raises(MalformedDelivery, match="unsupported Content-Type"):
            parse_delivery(headers(body, content_type=content_type), body, secret=SECRET)

    @pytest.mark.parametrize(
        ("body", "content_type", "message"),
        [
            (b"{broken", JSON, "not valid JSON"),
            (b"[1, 2]", JSON, "must be a JSON object"),
            (b"\xff\xfe", JSON, "not UTF-8"),
            (b"other=1", FORM, "exactly one payload"),
            (b"payload=%7B%7D&payload=%7B%7D", FORM, "exactly one payload"),
            (b"payload=%7Bbroken", FORM, "not valid JSON"),
            (b"a&&=b", FORM, "urlencoded"),
            (b"[" * 100_000, JSON, "nested too deeply"),
            (b'{"n": ' + b"1" * 5000 + b"}", JSON, "not valid JSON"),
        ],
    )
    def test_unreadable_bodies(self, body: bytes, content_type: str, message: str) -> None:
        with pytest.raises(MalformedDelivery, match=message):
            parse_delivery(headers(body, content_type=content_type), body, secret=SECRET)

    @pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
    def test_required_headers(self, header: str) -> None:
        body = encode(sample(), JSON)
        sent = headers(body)
        del sent[header]
        with pytest.raises(MalformedDelivery, match=f"missing {header}"):
            parse_delivery(sent, body, secret=SECRET)

    def test_the_jobs_of_a_burst_share_their_strings(self) -> None:
        # Each queued runner keeps its event until it is dispatched: what the jobs of one
        # repository and workflow have in common is held once, not once per job.
        first, second = sample(), sample()
        second["workflow_job"]["id"] += 1
        a, b = deliver(first), deliver(second)
        assert a.job_id != b.job_id
        for field in ("action", "job_name", "workflow_name", "status", "repo_full_name",
                      "repo_owner", "repo_name", "repo_html_url"):  # fmt: skip
            assert getattr(a, field) is getattr(b, field), field
        assert all(x is y for x, y in zip(a.labels, b.labels, strict=True))

    def test_hook_id_is_optional(self) -> None:
        body = encode(sample(), JSON)
        sent = headers(body)
        del sent["X-GitHub-Hook-ID"]
        event = parse_delivery(sent, body, secret=SECRET)
        assert isinstance(event, WorkflowJobEvent)
        assert event.origin.key == "-/72d3162e-cc78-11e3-81ab-4c9367dc0958"

    @pytest.mark.parametrize(
        "path",
        [
            ("action",),
            ("repository",),
            ("repository", "full_name"),
            ("repository", "html_url"),
            ("repository", "fork"),
            ("workflow_job",),
            ("workflow_job", "id"),
            ("workflow_job", "run_id"),
            ("workflow_job", "run_attempt"),
            ("workflow_job", "name"),
            ("workflow_job", "labels"),
            ("workflow_job", "status"),
        ],
    )
    def test_missing_field_is_named(self, path: tuple[str, ...]) -> None:
        document = sample()
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        dotted = re.escape(".".join(path))
        with pytest.raises(MalformedDelivery, match=rf"^{dotted} is missing$"):
            deliver(document)

    @pytest.mark.parametrize(
        ("section", "key", "value", "message"),
        [
            ("workflow_job", "id", "123", "workflow_job.id must be an integer"),
            ("workflow_job", "id", True, "workflow_job.id must be an integer"),
            ("workflow_job", "id", 0, "workflow_job.id must be an integer from 1 to "),
            # Issue 10 item 6: GitHub's ids are int64; 10**4000 made a 4,007-character name.
            ("workflow_job", "id", 10**4000, "workflow_job.id must be an integer from 1 to 9223"),
            ("workflow_job", "id", 2**63, "workflow_job.id must be an integer from 1 to 9223"),
            ("workflow_job", "run_id", 2**63, "workflow_job.run_id must be an integer from 1"),
            ("workflow_job", "run_attempt", 2**31, "run_attempt must be an integer from 1 to 2147"),
            ("workflow_job", "runner_id", 2**64, "workflow_job.runner_id must be an integer"),
            ("workflow_job", "run_attempt", 1.5, "workflow_job.run_attempt must be an integer"),
            ("workflow_job", "labels", "self-hosted", "workflow_job.labels must be a list"),
            ("workflow_job", "labels", ["self-hosted", 3], "list of strings"),
            ("workflow_job", "runner_id", "7", "workflow_job.runner_id must be an integer"),
            ("workflow_job", "workflow_name", 5, "workflow_job.workflow_name must be a string"),
            ("repository", "fork", "false", "repository.fork must be true or false"),
            ("repository", "full_name", "../x", "repository.full_name is not a valid owner/name"),
            ("repository", "full_name", "a/b/c", "repository.full_name is not a valid owner/name"),
            ("repository", "full_name", "-x/y", "repository.full_name is not a valid owner/name"),
            ("repository", "html_url", "javascript:alert(1)", "repository.html_url is not"),
        ],
    )
    def test_mistyped_field_is_named(
        self, section: str, key: str, value: object, message: str
    ) -> None:
        document = sample()
        document[section][key] = value
        with pytest.raises(MalformedDelivery, match=message):
            deliver(document)

    @pytest.mark.parametrize("value", [None, 0, ""])
    def test_no_runner_spellings(self, value: object) -> None:
        document = sample()
        document["workflow_job"].update(runner_id=value, runner_name=None if value is None else "")
        event = deliver(document)
        assert isinstance(event, WorkflowJobEvent)
        assert (event.runner_id, event.runner_name) == (None, None)

    def test_runner_fields_of_a_running_job(self) -> None:
        event = deliver(sample("03.in_progress.json"))
        assert isinstance(event, WorkflowJobEvent)
        assert (event.runner_id, event.runner_name) == (5, "GitHub Actions 5")

    def test_installation_is_optional(self) -> None:
        document = sample()
        del document["installation"]
        event = deliver(document)
        assert isinstance(event, WorkflowJobEvent) and event.installation_id is None

    def test_events_are_frozen(self) -> None:
        event = deliver(sample())
        with pytest.raises(AttributeError):
            event.action = "queued"
