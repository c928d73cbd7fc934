"""Connection URIs: ``driver[+transport]://[user@][host][:port]/path[?query]``."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from .enums import ErrorCode, ErrorDomain
from .errors import VirtError

DEFAULT_URI_ENV = "VIRTKERNEL_DEFAULT_URI"
"""Environment variable naming the URI used when none is given."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9.-]*(\+[A-Za-z0-9.-]+)?$")


@dataclass(frozen=True)
class ConnectURI:
    """A parsed connection URI."""

    text: str
    driver: str
    transport: Optional[str] = None
    user: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        """True when the URI names no remote host."""
        return self.host is None

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A query parameter (case-sensitive name)."""
        return self.query.get(name, default)

    def __str__(self) -> str:
        return self.text


def _invalid(text: str, why: str) -> VirtError:
    return VirtError(f"unable to parse URI '{text}': {why}", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.URI)


def parse_uri(text: str) -> ConnectURI:
    """Parse a connection URI, with a precise error for anything malformed."""
    if not isinstance(text, str) or not text:
        raise _invalid(str(text), "the URI is empty")
    if any(c.isspace() for c in text):
        raise _invalid(text, "a URI may not contain whitespace")
    scheme, sep, rest = text.partition("://")
    if not sep:
        if ":" in text and not text.startswith("/"):
            scheme, _, rest = text.partition(":")
            if rest.startswith("/"):
                raise _invalid(text, "expected '://' after the scheme")
        raise _invalid(text, "expected 'driver://…' (for example 'qemu:///system')")
    if not _SCHEME.match(scheme):
        raise _invalid(text, f"'{scheme}' is not a valid scheme")
    driver, _, transport = scheme.partition("+")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _invalid(text, str(exc)) from None
    netloc = parts.netloc
    if "[" in netloc and "]" not in netloc:
        raise _invalid(text, "unterminated '[' in an IPv6 host")
    host = parts.hostname  # urlsplit strips the brackets of an IPv6 literal
    query: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        query[name] = value
    if parts.query and not query:
        raise _invalid(text, f"malformed query '{parts.query}'")
    return ConnectURI(text=text, driver=driver.lower(), transport=transport.lower() or None,
                      user=urllib.parse.unquote(parts.username) if parts.username else None,
                      host=host or None, port=port, path=urllib.parse.unquote(parts.path), query=query)


def default_uri() -> Optional[str]:
    """The URI from VIRTKERNEL_DEFAULT_URI, or None."""
    value = os.environ.get(DEFAULT_URI_ENV, "").strip()
    return value or None
