"""README "Deploying", run as written: its `sh` blocks, word-split, each line made an API call.

The deployed backend does not keep its own copy of the deploy procedure: it reads the README's
code blocks and turns every `nomad ...` and `curl ...` line into the HTTP call the CLI makes, and
runs every `rod ...` line as this project's own command, so the README and what the suite deploys
cannot drift apart. What a test deployment must put in
place of the README's placeholders is listed in one place, `Where`, and nothing else changes:
the `...` values of `nomad var put`, the GitHub API and webhook addresses, `OWNER/REPO`, and job
variables that point docker tasks at host commands (the emulator runs no images).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.harness.backend_base import Endpoints
from simulator.harness.dispatcher import clean_environment, rod_command
from simulator.harness.errors import HarnessError
from simulator.harness.nomad_client import hcl_variables
from simulator.harness.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
_STEP = re.compile(r"^(\d+)\. \*\*", re.MULTILINE)
_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The README's stand-ins, replaced by the deployment's own values (see `Where`).
README_GITHUB_API = "https://api.github.com"
README_WEBHOOK_URL = "https://runners.example.org/webhook"
README_REPO = "OWNER/REPO"
README_OWNER = "OWNER"
PLACEHOLDER = "..."


class ReadmeError(HarnessError):
    """The README's deploy section says something the translation cannot carry out."""


@dataclass(frozen=True)
class Command:
    """One command line of the README's "Deploying" section, word-split as sh would."""

    step: int
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        """The command, for messages (secrets expanded from the environment are not shown)."""
        return " ".join(self.words[:4]) + (" ..." if len(self.words) > 4 else "")


def deploying_section(readme: str) -> str:
    """The text of README's "## Deploying" section."""
    if "\n## Deploying\n" not in readme:
        raise ReadmeError("README.md has no '## Deploying' section")
    return readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]


def commands(readme: str, env: Mapping[str, str]) -> list[Command]:
    """Every command of the section's `sh` blocks, with the numbered step it belongs to."""
    section = deploying_section(readme)
    steps = [(m.start(), int(m.group(1))) for m in _STEP.finditer(section)]
    found = []
    for block in _BLOCK.finditer(section):
        step = max((n for at, n in steps if at < block.start()), default=0)
        dedented = "\n".join(line.strip() for line in block.group(1).splitlines())
        found += [Command(step, tuple(words)) for words in split_sh(dedented, env)]
    return found


def split_sh(text: str, env: Mapping[str, str]) -> list[list[str]]:
    """sh's word splitting for what the README uses: '...', "..." and $NAME, `\\` line
    continuations, `#` comments; one list of words per command line."""
    lines: list[list[str]] = []
    words: list[str] = []
    word: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] == "\n":
            i += 2
            continue
        if c in " \t\n":
            if word is not None:
                words.append(word)
                word = None
            if c == "\n" and words:
                lines.append(words)
                words = []
        elif c == "#" and word is None:
            i = text.find("\n", i) - 1 if "\n" in text[i:] else len(text)
        elif c == "'":
            end = _closing(text, i, "'")
            word = (word or "") + text[i + 1 : end]
            i = end
        elif c == '"':
            end = _closing(text, i, '"')
            word = (word or "") + _expand(text[i + 1 : end], env)
            i = end
        elif c == "$":
            name = _NAME.match(text, i + 1)
            if name is None:
                raise ReadmeError(f"unsupported shell syntax at {text[i : i + 20]!r}")
            word = (word or "") + _variable(name.group(0), env)
            i = name.end() - 1
        else:
            word = (word or "") + c
        i += 1
    if word is not None:
        words.append(word)
    return [*lines, words] if words else lines


def _closing(text: str, start: int, quote: str) -> int:
    end = text.find(quote, start + 1)
    if end < 0:
        raise ReadmeError(f"unterminated {quote} in the README's deploy commands")
    return end


def _expand(text: str, env: Mapping[str, str]) -> str:
    """$NAME inside double quotes."""
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: _variable(m.group(1), env), text)


def _variable(name: str, env: Mapping[str, str]) -> str:
    if name not in env:
        raise ReadmeError(f"the README uses ${name}, which the deployment does not set")
    return env[name]


@dataclass(frozen=True)
class Where:
    """What a test deployment puts in place of the README's stand-ins; nothing else differs."""

    github_url: str  # for https://api.github.com
    repo: str = README_REPO  # for OWNER/REPO
    webhook_url: str = README_WEBHOOK_URL  # for https://runners.example.org/webhook
    # Variables added to `nomad job run`, per job file: docker tasks pointed at host commands.
    job_variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def place(self, text: str) -> str:
        """`text` with the README's addresses, repository and owner replaced."""
        for old, new in (
            (README_GITHUB_API, self.github_url),
            (README_WEBHOOK_URL, self.webhook_url),
            (README_REPO, self.repo),
        ):
            text = text.replace(old, new)
        return self.repo.partition("/")[0] if text == README_OWNER else text


@dataclass(frozen=True)
class Call:
    """The HTTP request that carries out one README command."""

    command: Command
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # JSON, or raw text (curl -d) when `raw`
    raw: bool = False


def _flags(words: Sequence[str], known: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """`-flag value` pairs (each flag may repeat) and the positional arguments."""
    flags: dict[str, list[str]] = {}
    rest = []
    items = iter(words)
    for word in items:
        if word.startswith("-") and len(word) > 1:
            if word not in known:
                raise ReadmeError(f"the README passes {word}, which the translation does not know")
            flags.setdefault(word, []).append(next(items, ""))
        else:
            rest.append(word)
    return flags, rest


def _one(flags: Mapping[str, list[str]], name: str) -> str:
    return (flags.get(name) or [""])[-1]


class Translator:
    """README commands -> HTTP calls on Nomad (`NOMAD_ADDR`, `NOMAD_TOKEN`) and GitHub."""

    def __init__(self, where: Where, nomad_url: str, nomad_token: str, root: Path = REPO_ROOT):
        self.where = where
        self.nomad_url = nomad_url.rstrip("/")
        self.headers = {"X-Nomad-Token": nomad_token}
        self.root = root

    def call(self, command: Command, secrets: Mapping[str, str]) -> Call:
        """The call for `command`; `secrets` fill the `...` of `nomad var put`."""
        words = command.words
        handlers: dict[tuple[str, ...], Callable[[Command, Sequence[str], Mapping[str, str]], Call]]
        handlers = {
            ("nomad", "acl", "policy", "apply"): self._policy,
            ("nomad", "acl", "token", "create"): self._token,
            ("nomad", "job", "run"): self._job,
            ("nomad", "var", "put"): self._variable,
            ("curl",): self._curl,
        }
        for prefix, handler in handlers.items():
            if words[: len(prefix)] == prefix:
                return handler(command, words[len(prefix) :], secrets)
        raise ReadmeError(f"no translation for the README's command: {command.text}")

    def rod_arguments(self, command: Command) -> list[str]:
        """A `rod ...` line's arguments, stand-ins replaced; `rod hooks sync` touches only the
        deployment's repository (`--repo`)."""
        words = [self.where.place(word) for word in command.words[1:]]
        if words[:2] == ["hooks", "sync"] and "--repo" not in words:
            words += ["--repo", self.where.repo.partition("/")[2]]
        return words

    def rod(self, command: Command, secrets: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        """Run a `rod ...` line as written, against the deployment's GitHub."""
        env = clean_environment({"GITHUB_API_URL": self.where.github_url, **secrets})
        return subprocess.run(
            [*rod_command(), *self.rod_arguments(command)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def _nomad(self, command: Command, method: str, path: str, body: Any) -> Call:
        return Call(command, method, f"{self.nomad_url}{path}", self.headers, body)

    def _file(self, name: str) -> str:
        path = self.root / name
        if not path.is_file():
            raise ReadmeError(f"the README names {name}, which does not exist")
        return path.read_text(encoding="utf-8")

    # https://developer.hashicorp.com/nomad/api-docs/acl/policies#create-or-update-policy
    def _policy(self, command: Command, args: Sequence[str], _: Mapping[str, str]) -> Call:
        known = {"-description", "-namespace", "-job", "-group", "-task"}
        flags, (name, path) = _flags(args, known)
        body: dict[str, Any] = {"Name": name, "Description": _one(flags, "-description")}
        body["Rules"] = self._file(path)
        if "-job" in flags:
            body["JobACL"] = {
                "Namespace": _one(flags, "-namespace") or "default",
                "JobID": _one(flags, "-job"),
                "Group": _one(flags, "-group"),
                "Task": _one(flags, "-task"),
            }
        return self._nomad(command, "PUT", f"/v1/acl/policy/{name}", body)

    # https://developer.hashicorp.com/nomad/api-docs/acl/tokens#create-token
    def _token(self, command: Command, args: Sequence[str], _: Mapping[str, str]) -> Call:
        flags, rest = _flags(args, {"-name", "-type", "-policy"})
        if rest:
            raise ReadmeError(f"unexpected arguments {rest} in: {command.text}")
        body: dict[str, Any] = {"Name": _one(flags, "-name"), "Policies": flags.get("-policy", [])}
        body["Type"] = _one(flags, "-type") or "client"  # the CLI's default
        return self._nomad(command, "POST", "/v1/acl/token", body)

    # `nomad job run`: parse with the variables (/v1/jobs/parse), then register (/v1/jobs).
    def _job(self, command: Command, args: Sequence[str], _: Mapping[str, str]) -> Call:
        flags, (path,) = _flags(args, {"-var"})
        variables: dict[str, Any] = dict(v.split("=", 1) for v in flags.get("-var", []))
        variables.update(self.where.job_variables.get(path, {}))
        body = {"JobHCL": self._file(path), "Variables": hcl_variables(variables)}
        return self._nomad(command, "POST", "/v1/jobs/parse", {**body, "Canonicalize": True})

    # https://developer.hashicorp.com/nomad/api-docs/variables/variables#create-variable
    def _variable(self, command: Command, args: Sequence[str], secrets: Mapping[str, str]) -> Call:
        path, *pairs = args
        items = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            if value == PLACEHOLDER:
                if key not in secrets:
                    known = ", ".join(sorted(secrets))
                    raise ReadmeError(
                        f"README step {command.step} puts {key}=...; the deployment has {known}"
                    )
                value = secrets[key]
            elif value.startswith("@"):
                value = self._file(value[1:])
            items[key] = value
        body = {"Namespace": "default", "Path": path, "Items": items}
        return self._nomad(command, "PUT", f"/v1/var/{path}", body)

    def _curl(self, command: Command, args: Sequence[str], _: Mapping[str, str]) -> Call:
        flags, (url,) = _flags(args, {"-X", "-H", "-d"})
        headers = dict(
            (name.strip(), value.strip())
            for name, _, value in (h.partition(":") for h in flags.get("-H", []))
        )
        if "-d" in flags and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/x-www-form-urlencoded"  # what curl -d sends
        method = _one(flags, "-X") or ("POST" if "-d" in flags else "GET")
        body = self.where.place(_one(flags, "-d"))
        return Call(command, method, self.where.place(url), headers, body, raw=True)


class Deployment:
    """Runs README commands in order; remembers what a command hands to the next one.

    `secrets` are the deployment's values by the names the README uses, for `$NAME` in its
    commands and for `NAME=...` in `nomad var put`; step 1's token becomes `NOMAD_TOKEN`.
    """

    def __init__(
        self,
        translator: Translator,
        secrets: Mapping[str, str],
        *,
        readme: str | None = None,
        send: Callable[[Call], httpx.Response] | None = None,
    ) -> None:
        self.translator = translator
        self.secrets = dict(secrets)
        env = {k: v for k, v in self.secrets.items() if k.isupper()}
        self.commands = commands(readme if readme is not None else README.read_text(), env)
        self._send = send or _send
        self.done: list[tuple[Call, httpx.Response]] = []

    def steps(self, *numbers: int) -> Iterator[Command]:
        """The commands of these steps, in README order."""
        return (command for command in self.commands if command.step in numbers)

    def run(self, *steps: int) -> list[tuple[Call, httpx.Response]]:
        """Carry out every command of `steps`; stop at the first that fails."""
        results = []
        for command in self.steps(*steps):
            if command.words[0] == "rod":
                done = self.translator.rod(command, self.secrets)
                if done.returncode != 0:
                    said = " ".join(done.stderr.split())[-200:]
                    raise ReadmeError(f"README step {command.step}: {command.text} -> {said}")
                continue
            call = self.translator.call(command, self.secrets)
            response = self._send(call)
            if call.url.endswith("/v1/jobs/parse") and response.is_success:
                # `nomad job run` registers what it parsed; the registration's answer is kept.
                job = {"Job": response.json()}
                register = Call(command, "POST", call.url.removesuffix("/parse"), call.headers, job)
                response = self._send(register)
            if not response.is_success:
                raise ReadmeError(
                    f"README step {command.step}: {command.text} -> "
                    f"{response.status_code} {' '.join(response.text.split())[:200]}"
                )
            if command.words[:4] == ("nomad", "acl", "token", "create"):
                # "The token's Secret ID is the NOMAD_TOKEN of the next step" (README step 1).
                self.secrets["NOMAD_TOKEN"] = response.json()["SecretID"]
            results.append((call, response))
        self.done += results
        return results


def _send(call: Call) -> httpx.Response:
    content = call.body.encode() if call.raw else json.dumps(call.body).encode()
    return httpx.request(
        call.method, call.url, headers=dict(call.headers), content=content, timeout=30
    )


def readme_webhook(endpoints: Endpoints, repo: str) -> dict[str, Any]:
    """README step 3 for `repo`: the hook GitHub made, as its REST API returns it."""
    where = Where(github_url=endpoints.github_url, repo=repo, webhook_url=endpoints.webhook_url)
    secrets = {
        "GITHUB_TOKEN": endpoints.github_token,
        "GITHUB_WEBHOOK_SECRET": endpoints.webhook_secret,
    }
    Deployment(Translator(where, endpoints.nomad_url, ""), secrets).run(3)
    listed = httpx.get(
        f"{endpoints.github_url}/repos/{repo}/hooks",
        headers={"Authorization": f"Bearer {endpoints.github_token}", "User-Agent": "rod-harness"},
        timeout=30,
    )
    listed.raise_for_status()
    for hook in listed.json():
        if hook["config"]["url"] == endpoints.webhook_url and hook["events"] == ["workflow_job"]:
            return dict(hook)
    raise ReadmeError(f"README step 3 made no workflow_job hook on {repo}")
