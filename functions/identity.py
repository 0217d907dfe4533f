"""Who is calling. Dev mode (local only) takes the `user_id` the request names, or `X-User-Id`;
token mode takes the subject of a verified ID token and refuses (403) a claimed `user_id` that differs.

Whatever its source, a user id must look like one (it becomes part of record paths). In token mode
every route but health needs a verified caller (`require_caller`), and administration (style writes,
`/tasks/stats/summary`) needs an administrator: a token carrying the `soul_admin: true` custom claim,
or one whose subject is listed in SOUL_ADMIN_SUBJECTS.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from shared.config import Settings
from shared.errors import Forbidden, InvalidInput, Unauthenticated

USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")
ADMIN_CLAIM = "soul_admin"


class TokenVerifier(Protocol):
    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of an ID token, `sub` included; Unauthenticated if it does not verify."""
        ...


class Identity:
    def __init__(self, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self.mode = settings.soul_auth_mode
        self._verifier = verifier
        self._admins = frozenset(s.strip() for s in settings.soul_admin_subjects.split(",") if s.strip())

    def user(self, authorization: str | None, header_user: str | None, claimed: str | None) -> str:
        if self.mode == "dev":
            user = claimed or header_user
            if not user:
                raise InvalidInput("user_id is required (dev mode: pass ?user_id= or the X-User-Id header)")
            if not USER_ID.fullmatch(user):
                raise InvalidInput("user_id must be 1-128 letters, digits or _.@:- (starting with a letter or digit)")
            return user
        subject = str(self._claims(authorization)["sub"])
        if not USER_ID.fullmatch(subject):
            raise Unauthenticated("token subject is not a usable user id")
        if claimed and claimed != subject:
            raise Forbidden("user_id does not match the authenticated user")
        return subject

    def optional(self, authorization: str | None, header_user: str | None, claimed: str | None) -> str | None:
        """The caller if identified; None in dev mode when no user is named (admin-style listing)."""
        if self.mode == "dev" and not (claimed or header_user):
            return None
        return self.user(authorization, header_user, claimed)

    def require_caller(self, authorization: str | None) -> None:
        """Token mode: 401 unless the request carries a verified ID token. Dev mode trusts everyone."""
        if self.mode != "dev":
            self._claims(authorization)

    def admin(self, authorization: str | None) -> None:
        """Token mode: `soul_admin: true` in the token, or its subject in SOUL_ADMIN_SUBJECTS."""
        if not self.is_admin(authorization):
            raise Forbidden("this operation needs an administrator")

    def is_admin(self, authorization: str | None) -> bool:
        if self.mode == "dev":
            return True
        claims = self._claims(authorization)
        return claims.get(ADMIN_CLAIM) is True or claims.get("sub") in self._admins

    def viewer(self, authorization: str | None, header_user: str | None, claimed: str | None) -> str | None:
        """Whose view of variants a read gets: None sees all (an administrator in token mode; dev mode
        when no user is named), else the user, who sees only what was served to them."""
        if self.mode == "token" and self.is_admin(authorization):
            return None
        return self.optional(authorization, header_user, claimed)

    def _claims(self, authorization: str | None) -> dict[str, Any]:
        if self._verifier is None:
            raise Unauthenticated("token verification is not configured")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("missing bearer token")
        return self._verifier.claims(authorization[7:].strip())
