"""A logging filter that masks OAuth secrets in httpx/httpcore log records.

Our requests never put a token in a URL, and httpcore's DEBUG records show neither request
headers nor bodies. But httpcore logs *response* headers at DEBUG, and the accounts service's
redirect `Location` carries the authorization `code`; httpx logs every URL at INFO, including a
login callback `?code=...`. A code is single-use and useless without the PKCE verifier, yet it
is a credential, so these records are masked before any handler sees them.
"""

from __future__ import annotations

import logging
import re

# httpcore logs through one logger per module; filters on a parent logger do not apply to
# records of its children, so each is named.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_PATTERNS = (
    (re.compile(r"(?i)\b(code|access_token|refresh_token|code_verifier|client_secret)"
                r"=[^&\s'\"\]>),]+"), r"\1=<redacted>"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), r"\1\2<redacted>"),
    (re.compile(r"(?i)(\"(?:access|refresh)_token\"\s*:\s*\")[^\"]+"), r"\1<redacted>"),
)


def redact_secrets(text: str) -> str:
    """`text` with OAuth codes, tokens and credentials masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message with `redact_secrets`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact_secrets(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = SecretRedactingFilter()


def install_http_log_redaction() -> None:
    """Attach the filter to the httpx/httpcore loggers (idempotent)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
