"""ID-token verification (Firebase Auth / Google identity JWTs) with PyJWT.

A token is accepted only if its RS256 signature verifies against a key of the configured JWKS (by
`kid`), its issuer, audience, expiry, issued-at and subject check out, and it lives no longer than
SOUL_TOKEN_MAX_LIFETIME_SECONDS (exp - iat, and exp - now; Firebase's live an hour): a token minted to
last for decades is refused. Keys come from a JWKS URL (fetched on first use, cached, re-fetched when
an unknown `kid` appears: key rotation) or a JWKS file (tests, offline setups). Nothing is fetched at
construction. Error messages never echo the token.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt

from shared.config import Settings
from shared.errors import NotConfigured, Unauthenticated, Unavailable
from shared.logging import get_logger

log = get_logger("soul.auth")

ALGORITHMS = ["RS256"]  # Firebase and Google sign ID tokens with RS256; never "none" or HMAC
LEEWAY_SECONDS = 30  # clock skew tolerated on exp / iat / nbf
MAX_TOKEN_CHARS = 8192
JWKS_CACHE_SECONDS = 3600.0
REFETCH_COOLDOWN_SECONDS = 30.0  # unknown `kid`s cannot make us fetch the JWKS more often than this
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class KeySource:
    """Signing keys by `kid`, from a JWKS URL (cached) or a JWKS file (read once)."""

    def __init__(
        self,
        *,
        url: str = "",
        file: Path | None = None,
        cache_seconds: float = JWKS_CACHE_SECONDS,
        refetch_cooldown: float = REFETCH_COOLDOWN_SECONDS,
    ) -> None:
        if file is None and not url:
            raise NotConfigured("token mode needs SOUL_JWKS_URL or SOUL_JWKS_FILE")
        if file is None:
            parsed = urlparse(url)
            if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in LOOPBACK):
                raise NotConfigured("SOUL_JWKS_URL must be https (plain http only on loopback)")
        self._file = file
        self._client = None
        if file is None:
            self._client = jwt.PyJWKClient(
                url, cache_jwk_set=True, lifespan=cache_seconds, timeout=5, cooldown_duration=refetch_cooldown
            )
        self._keys: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        if self._client is not None:
            try:
                return self._client.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError:
                log.warning("JWKS fetch failed")
                raise Unavailable("cannot fetch token signing keys; try again", retry_after=5) from None
            except jwt.PyJWKClientError:
                raise Unauthenticated("token signed with an unknown key") from None
        return self._from_file(kid)

    def _from_file(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if self._keys is None:
                assert self._file is not None
                try:
                    self._keys = jwt.PyJWKSet.from_json(self._file.read_text())
                except (OSError, ValueError, jwt.PyJWKSetError):
                    raise NotConfigured("SOUL_JWKS_FILE is not a readable JWKS") from None
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise Unauthenticated("token signed with an unknown key")


class JwtVerifier:
    """The TokenVerifier of token mode: the verified subject (`sub`) of an ID token."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, max_lifetime: float = 86400.0) -> None:
        if not issuer or not audience:
            raise NotConfigured("token mode needs an issuer and an audience")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier:
        """Firebase Auth of GOOGLE_CLOUD_PROJECT unless SOUL_TOKEN_ISSUER / SOUL_TOKEN_AUDIENCE say otherwise."""
        project = settings.google_cloud_project
        keys = KeySource(url=settings.soul_jwks_url, file=settings.soul_jwks_file)
        issuer = settings.soul_token_issuer or f"https://securetoken.google.com/{project}"
        audience = settings.soul_token_audience or project
        return cls(keys, issuer=issuer, audience=audience, max_lifetime=settings.soul_token_max_lifetime_seconds)

    def subject(self, token: str) -> str:
        return str(self.claims(token)["sub"])

    def claims(self, token: str) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.InvalidTokenError, ValueError, TypeError):  # PyJWT refuses a non-string `kid` itself
            raise Unauthenticated("malformed token") from None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            raise Unauthenticated("token must be RS256-signed with a key id")
        key = self._keys.key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience is not this service") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not trusted") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token ({type(exc).__name__})") from None
        exp, iat = float(claims["exp"]), float(claims["iat"])
        if max(exp - iat, exp - time.time()) > self._max_lifetime + LEEWAY_SECONDS:
            raise Unauthenticated("token lifetime is longer than this service accepts")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise Unauthenticated("token subject must be a non-empty string of at most 128 characters")
        return claims


def jwks_json(*public_keys: tuple[str, Any]) -> str:
    """A JWKS document for (kid, public key) pairs: what tests and `soul` tooling serve or write."""
    keys = []
    for kid, public_key in public_keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
        keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return json.dumps({"keys": keys})
