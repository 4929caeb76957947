"""Why a collection failed, in words an operator can act on.

Every failure a collector raises is a `CollectorError`; the subclass says what to do about it
(fix the credentials, wait, tell the platform's admins, report a parser bug). Messages name the
host or the safe request URL, never a token, a password or a post's text: they end up in the
`collection_run` table and in `smearwatch status`, which analysts read.
"""

from __future__ import annotations

__all__ = [
    "AccessRefused",
    "AuthFailed",
    "CollectorError",
    "MalformedResponse",
    "NotFound",
    "PartialFailure",
    "RateLimited",
    "RequestRejected",
    "SettingsError",
    "UpstreamUnavailable",
]


class CollectorError(Exception):
    """Base of every collection failure.

    `url` is the request URL with secrets removed, `status` the HTTP status (None for transport
    failures) and `code` the platform's own error code when it sent one (XRPC `error`, Mastodon
    `error`), which lets a collector react to e.g. Bluesky's `ExpiredToken`.
    """

    #: A later run may succeed without anyone changing anything.
    transient = False

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.code = code


class SettingsError(CollectorError, ValueError):
    """A `[[sources]]` table is wrong: unknown key, missing required key, bad value."""


class AuthFailed(CollectorError):
    """Credentials missing, wrong or expired (HTTP 401, a refused login). Never retried."""


class AccessRefused(CollectorError):
    """The platform refuses us (HTTP 403, often an HTML page from a proxy or WAF). Not retried."""


class NotFound(CollectorError):
    """The account, channel, feed or endpoint does not exist (HTTP 404/410). Not retried."""


class RequestRejected(CollectorError):
    """Any other 4xx: the request itself is wrong (bad parameter, invalid cursor)."""


class MalformedResponse(CollectorError):
    """The body is not what the platform documents (bad JSON, unexpected shape or page)."""


class RateLimited(CollectorError):
    """Still rate-limited after the retries, or asked to wait longer than we are willing to.

    `retry_after` is the number of seconds the server asked for, when it said.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class UpstreamUnavailable(CollectorError):
    """Connection failures, timeouts or 5xx that outlasted the retries."""

    transient = True


class PartialFailure(CollectorError):
    """Some streams of a source (a channel, a feed, an author) failed while the others worked.

    Raised at the end of `fetch`, after every page of the healthy streams has been yielded, so
    the pipeline has already committed their posts and cursors; `errors` maps each failed
    stream to its error.
    """

    def __init__(self, source: str, errors: dict[str, CollectorError]) -> None:
        details = "; ".join(f"{stream}: {error.message}" for stream, error in errors.items())
        super().__init__(f"source {source!r}: {len(errors)} stream(s) failed: {details}")
        self.errors = errors
        self.transient = all(error.transient for error in errors.values())
