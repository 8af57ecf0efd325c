"""The service's documents: BOMs, empty answers, bodies encoded twice, errors by type name."""

from __future__ import annotations

import json
import math

import jwt
import pytest

from runners_on_demand.listen.errors import (
    AgentExists,
    EmptyAnswer,
    NotFound,
    ServiceError,
    SessionConflict,
    Unauthorized,
)
from runners_on_demand.listen.protocol import (
    Statistics,
    decode,
    desired_runners,
    error_of,
    message_of,
    scale_set_of,
    session_of,
    token_expiry,
)

STATS = {
    "totalAvailableJobs": 1,
    "totalAcquiredJobs": 2,
    "totalAssignedJobs": 3,
    "totalRunningJobs": 1,
    "totalRegisteredRunners": 4,
    "totalBusyRunners": 1,
    "totalIdleRunners": 3,
}


def entry(kind: str, request_id: int, **extra: object) -> dict[str, object]:
    """A body entry as the service sends it ([S] JobMessageBase)."""
    return {
        "messageType": kind,
        "runnerRequestId": request_id,
        "repositoryName": "app",
        "ownerName": "acme",
        "jobId": "5d0c5c8e-0000-0000-0000-000000000000",
        "jobDisplayName": "build",
        "workflowRunId": 77,
        "requestLabels": ["self-hosted", "linux"],
        **extra,
    }


class TestDecode:
    def test_a_leading_bom_is_stripped(self) -> None:
        assert decode(b"\xef\xbb\xbf" + b'{"a": 1}', "GET x") == {"a": 1}

    @pytest.mark.parametrize("raw", [b"", b"  ", b"\xef\xbb\xbf"])
    def test_an_empty_answer_is_transient(self, raw: bytes) -> None:
        with pytest.raises(EmptyAnswer) as raised:
            decode(raw, "GET x")
        assert raised.value.retryable

    def test_not_json(self) -> None:
        with pytest.raises(ServiceError, match="GET x: 200 answer is not JSON"):
            decode(b"<html>", "GET x")


class TestErrorOf:
    def test_vss_error_by_its_type_name(self) -> None:
        body = {
            "typeName": "GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, "
            "GitHub.Actions.Runtime.WebApi",
            "message": "The actions runner scaleset rod already has an active session.",
        }
        error = error_of("POST sessions", 409, json.dumps(body).encode(), None)
        assert isinstance(error, SessionConflict)
        assert error.type_name == "RunnerScaleSetSessionConflictException"
        assert str(error) == (
            "POST sessions: 409 RunnerScaleSetSessionConflictException: The actions runner "
            "scaleset rod already has an active session."
        )
        assert not error.retryable

    @pytest.mark.parametrize(
        ("status", "type_name", "kind"),
        [
            (401, "VssUnauthorizedException", Unauthorized),
            (404, "RunnerScaleSetNotFoundException", NotFound),
            (409, "AgentExistsException", AgentExists),
            (409, "SomethingElseException", ServiceError),
        ],
    )
    def test_statuses_and_conflicts(self, status: int, type_name: str, kind: type) -> None:
        body = json.dumps({"typeName": type_name, "message": "m"}).encode()
        assert type(error_of("x", status, body, None)) is kind

    def test_plain_text_and_retry_after(self) -> None:
        error = error_of("GET message", 429, b"Too Many Requests", "7")
        assert (error.status, error.retry_after, error.retryable) == (429, 7.0, True)
        assert str(error) == "GET message: 429 Too Many Requests"
        assert error_of("x", 503, b"", "soon").retry_after is None  # only integer seconds

    def test_which_statuses_are_retried(self) -> None:
        retried = {status: error_of("x", status, b"", None).retryable for status in (400, 500, 501)}
        assert retried == {400: False, 500: True, 501: False}


class TestMessageOf:
    def test_body_is_decoded_twice_and_statistics_read(self) -> None:
        entries = [
            entry("JobAvailable", 1001, acquireJobUrl="http://x/acquirejobs"),
            entry("JobStarted", 1002, runnerId=21, runnerName="rod-ss1-abc"),
            entry("JobCompleted", 1003, result="canceled", runnerName=""),
            entry("SomeFutureType", 1004),
        ]
        raw = {
            "messageId": 5,
            "messageType": "RunnerScaleSetJobMessages",
            "body": json.dumps(entries),
            "statistics": STATS,
        }
        message = message_of(raw, "GET message")
        assert message.id == 5
        assert message.statistics == Statistics(1, 2, 3, 1, 4, 1, 3)
        kinds = [(e.kind, e.request_id, e.runner_name, e.result) for e in message.entries]
        assert kinds == [
            ("JobAvailable", 1001, "", ""),
            ("JobStarted", 1002, "rod-ss1-abc", ""),
            ("JobCompleted", 1003, "", "canceled"),
            ("SomeFutureType", 1004, "", ""),
        ]
        first = message.entries[0]
        assert (first.owner, first.repo, first.run_id, first.display_name) == (
            "acme",
            "app",
            77,
            "build",
        )
        assert first.labels == ("self-hosted", "linux")

    def test_an_empty_body_has_no_entries(self) -> None:
        raw = {
            "messageId": 1,
            "messageType": "RunnerScaleSetJobMessages",
            "body": "",
            "statistics": STATS,
        }
        assert message_of(raw, "m").entries == ()

    @pytest.mark.parametrize("statistics", [None, "3"])
    def test_a_message_without_statistics_is_refused(self, statistics: object) -> None:
        # [S] listener.go parseMessage: "invalid message: statistics is nil", before the ack;
        # read as zeros it would retire every idle runner. Not retryable: Listener gives its
        # session up and sets up again, as [S] Run ends, and the message is never acknowledged.
        raw = {"messageId": 5, "messageType": "RunnerScaleSetJobMessages", "body": "[]"}
        if statistics is not None:
            raw["statistics"] = statistics
        with pytest.raises(ServiceError, match="GET message: statistics is missing") as refused:
            message_of(raw, "GET message")
        assert not refused.value.retryable

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ({"messageId": 1, "messageType": "Other", "body": "[]"}, "unsupported messageType"),
            ({"messageId": 1, "messageType": "RunnerScaleSetJobMessages", "body": "{}"}, "array"),
            ({"messageType": "RunnerScaleSetJobMessages", "body": "[]"}, "not a scale set"),
            ([], "not a scale set message"),
        ],
    )
    def test_refused_shapes(self, raw: object, reason: str) -> None:
        with pytest.raises(ServiceError, match=reason):
            message_of(raw, "GET message")


class TestShapes:
    def test_scale_set_and_session(self) -> None:
        scale_set = {
            "id": 3,
            "name": "rod",
            "runnerGroupId": 1,
            "labels": [{"type": "System", "name": "rod"}],
        }
        assert scale_set_of(scale_set, "x").labels == ("rod",)
        session = session_of(
            {
                "sessionId": "s-1",
                "runnerScaleSet": scale_set,
                "messageQueueUrl": "http://q",
                "messageQueueAccessToken": "secret-token",
                "statistics": STATS,
            },
            "x",
        )
        assert (session.id, session.scale_set_id, session.statistics.assigned) == ("s-1", 3, 3)
        assert "secret-token" not in repr(session)

    def test_a_session_without_statistics_says_so(self) -> None:
        # Listener refuses it ([S] Run: "session statistics is nil"); a refreshed one is not read.
        raw = {
            "sessionId": "s-1",
            "runnerScaleSet": {"id": 3},
            "messageQueueUrl": "http://q",
            "messageQueueAccessToken": "t",
        }
        assert session_of(raw, "x").statistics is None

    def test_a_session_without_its_queue_is_refused(self) -> None:
        with pytest.raises(ServiceError, match="lacks its queue"):
            session_of(
                {
                    "sessionId": "s",
                    "runnerScaleSet": {"id": 1},
                    "messageQueueUrl": "",
                    "messageQueueAccessToken": "t",
                },
                "x",
            )
        with pytest.raises(ServiceError, match="not a runner scale set"):
            scale_set_of({"name": "x"}, "x")


class TestTokenExpiry:
    def test_exp_is_read_without_the_key(self) -> None:
        token = jwt.encode(
            {"exp": 1_900_000_000, "sub": "acme"},
            "a-key-this-listener-never-sees-0123456789",
            algorithm="HS256",
        )
        assert token_expiry(token) == 1_900_000_000.0

    def test_an_unreadable_token_never_expires_by_the_clock(self) -> None:
        assert token_expiry("not-a-jwt") == math.inf


class TestDesiredRunners:
    @pytest.mark.parametrize(
        ("minimum", "maximum", "assigned", "desired"),
        [(0, 10, 0, 0), (0, 10, 3, 3), (2, 10, 3, 5), (0, 4, 9, 4), (2, 2, 0, 2)],
    )
    def test_min_plus_assigned_capped_by_max(
        self, minimum: int, maximum: int, assigned: int, desired: int
    ) -> None:
        statistics = Statistics(assigned=assigned, running=1, available=7)
        assert desired_runners(statistics, minimum, maximum) == desired

    def test_absent_counts_are_zero(self) -> None:
        assert Statistics.of({}) == Statistics()
        assert Statistics.of({"totalAssignedJobs": "3"}).assigned == 0
