"""Who is calling. Dev mode (local only) takes the `user_id` the request names, or `X-User-Id`;
token mode takes the subject of a verified ID token and ignores or checks a claimed `user_id`."""

from __future__ import annotations

from typing import Protocol

from shared.config import Settings
from shared.errors import Forbidden, InvalidInput, Unauthenticated


class TokenVerifier(Protocol):
    def subject(self, token: str) -> str: ...


class Identity:
    def __init__(self, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self.mode = settings.soul_auth_mode
        self._verifier = verifier

    def user(self, authorization: str | None, header_user: str | None, claimed: str | None) -> str:
        if self.mode == "dev":
            user = claimed or header_user
            if not user:
                raise InvalidInput("user_id is required (dev mode: pass ?user_id= or the X-User-Id header)")
            return user
        if self._verifier is None:
            raise Unauthenticated("token verification is not configured")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("missing bearer token")
        subject = self._verifier.subject(authorization[7:].strip())
        if claimed and claimed != subject:
            raise Forbidden("user_id does not match the authenticated user")
        return subject

    def optional(self, authorization: str | None, header_user: str | None, claimed: str | None) -> str | None:
        """The caller if identified; None in dev mode when no user is named (admin-style listing)."""
        if self.mode == "dev" and not (claimed or header_user):
            return None
        return self.user(authorization, header_user, claimed)
