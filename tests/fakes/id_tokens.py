"""A local identity provider for tests: an RSA key pair, its JWKS, and ID tokens shaped like Firebase's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.tokens import jwks_json

PROJECT = "soul-test"
ISSUER = f"https://securetoken.google.com/{PROJECT}"


class LocalIssuer:
    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> str:
        return jwks_json((self.kid, self.private_key.public_key()))

    def write_jwks(self, path: Path) -> Path:
        path.write_text(self.jwks())
        return path

    def token(self, sub: str, *, ttl: float = 3600, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": PROJECT, "sub": sub, "iat": now, "exp": int(now + ttl), **claims}
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": kid or self.kid})

    def bearer(self, sub: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, **claims)}"}
