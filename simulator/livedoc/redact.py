"""Keep secrets out of the living documentation: known values and credential shapes.

Applied where calls are recorded (with the run's own secrets) and again when the site is built
(shapes only). Patterns follow the credentials this project handles: GitHub tokens
(https://github.blog/engineering/behind-githubs-new-authentication-token-formats/), webhook
signatures (`sha256=<64 hex>`, `sha1=<40 hex>`), JWTs, `Authorization` values and encoded JIT
runner configs (long base64 strings).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

MASK = "[redacted]"
# Query parameters whose value is a credential whatever it looks like.
SECRET_PARAM = re.compile(r"token|secret|signature|sig|jit|password|key|code|auth", re.I)
SHAPES = re.compile(
    "|".join(
        (
            r"\bgh[pousr]_[A-Za-z0-9_]{16,}",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{16,}",
            r"\bsha(?:256|1)=[0-9a-fA-F]{40,64}",  # X-Hub-Signature(-256)
            r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}",  # JWT
            r"\b(?i:bearer|token)\s+[\w.~+/=-]{8,}",  # Authorization values
        )
    )
)
# Long base64 runs: encoded JIT configs and dispatch payloads quoted in free text. Not applied
# to URL paths, where `/` joins harmless segments (a session ID, a dispatched job ID).
BLOB = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def redact(text: str, secrets: Iterable[str] = (), *, blobs: bool = True) -> str:
    """`text` with every known secret and every credential-shaped string masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = SHAPES.sub(MASK, text)
    return BLOB.sub(MASK, text) if blobs else text


def redact_path(path: str, secrets: Iterable[str] = ()) -> str:
    """A URL path with known secrets and credential shapes masked, segments kept apart."""
    return "/".join(redact(segment, secrets) for segment in path.split("/"))


def redact_query(query: str, secrets: Iterable[str] = ()) -> str:
    """A query string whose credential parameters are masked (the rest as `redact`)."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [(k, MASK if SECRET_PARAM.search(k) else v) for k, v in pairs]
    return redact(urlencode(masked, safe="[]/:,*"), secrets)
