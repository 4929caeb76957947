"""CSRF protection for every form: a per-session secret token, checked on each POST.

The token lives in the signed session cookie and in a hidden field of each form; a request
from another site cannot read it. The Origin header, when the browser sends one, must be this
server's own origin as well.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["FIELD", "checked_form", "csrf_token"]

FIELD = "csrf_token"
_KEY = "csrf"


def csrf_token(request: Request) -> str:
    """The session's token (created on first use) for a form's hidden field."""
    token = request.session.get(_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[_KEY] = token
    return token


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    expected = f"{request.url.scheme}://{request.url.netloc}"
    return origin == expected


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after the token and origin checks (403 otherwise)."""
    form = await request.form()
    sent: Any = form.get(FIELD)
    stored = request.session.get(_KEY)
    if (
        not isinstance(sent, str)
        or not isinstance(stored, str)
        or not hmac.compare_digest(sent.encode(), stored.encode())
    ):
        raise HTTPException(403, "The form's security token is missing or expired; reload it.")
    if not _same_origin(request):
        raise HTTPException(403, "The form was sent from another site.")
    return form
