"""simulator.nomad.jobspec: durations, defaults and validation."""

from __future__ import annotations

import pytest

from simulator.nomad.jobspec import canonicalize, duration_ns, go_list, validate

from .conftest import batch_job, parameterized_job


class TestDurationNs:
    @pytest.mark.parametrize(
        ("text", "ns"),
        [("30s", 30 * 10**9), ("1h30m", 5400 * 10**9), ("250ms", 25 * 10**7), (7, 7)],
    )
    def test_valid(self, text: str | int, ns: int) -> None:
        assert duration_ns(text) == ns

    @pytest.mark.parametrize("text", ["", "10", "5 s", "1d", "s"])
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ValueError, match="invalid duration"):
            duration_ns(text)


class TestCanonicalize:
    def test_batch_defaults(self) -> None:
        job = canonicalize(batch_job(), "default")
        assert job["Namespace"] == "default" and job["Priority"] == 50
        group = job["TaskGroups"][0]
        assert group["Count"] == 1
        assert group["RestartPolicy"]["Attempts"] == 3
        task = group["Tasks"][0]
        assert task["KillTimeout"] == 5 * 10**9
        assert task["Resources"] == {"CPU": 100, "MemoryMB": 300}

    def test_payload_mode_defaults_to_optional(self) -> None:
        job = parameterized_job(payload="")
        assert canonicalize(job, "default")["ParameterizedJob"]["Payload"] == "optional"


class TestValidate:
    def test_parameterized_service_rejected(self) -> None:
        job = canonicalize(parameterized_job(Type="service"), "default")
        assert validate(job) == [
            'Parameterized job can only be used with "batch" or "sysbatch" scheduler'
        ]

    def test_payload_mode_and_disjoint_meta(self) -> None:
        job = parameterized_job(payload="maybe")
        job["ParameterizedJob"]["MetaOptional"] = ["need"]
        assert validate(canonicalize(job, "default")) == [
            'Unknown payload requirement: "maybe"',
            "Required and optional meta keys should be disjoint. "
            "Following keys exist in both: [need]",
        ]

    def test_go_list(self) -> None:
        assert go_list(["a", "b"]) == "[a b]"

    def test_templates(self) -> None:
        job = batch_job()
        job["TaskGroups"][0]["Tasks"][0]["Templates"] = [
            {"EmbeddedTmpl": "x", "DestPath": "local/x"},
            {"DestPath": "../../../x", "ChangeMode": "signal", "Envvars": True},
        ]
        canonical = canonicalize(job, "default")
        first = canonical["TaskGroups"][0]["Tasks"][0]["Templates"][0]
        assert (first["ChangeMode"], first["Perms"], first["Splay"]) == (
            "restart",
            "0644",
            5 * 10**9,
        )
        assert (first["LeftDelim"], first["Envvars"], first["Uid"]) == ("{{", False, None)
        assert validate(canonical) == [
            "Template 2 validation failed: Must specify a source path or have an embedded template",
            "Template 2 validation failed: destination escapes allocation directory",
            "Template 2 validation failed: cannot use signals with env var templates",
        ]
