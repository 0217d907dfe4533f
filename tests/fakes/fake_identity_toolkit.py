"""A local stand-in for Identity Platform's REST sign-in, on loopback, for the pages' token mode.

It speaks the wire format the pages use against Google (and the Firebase Auth emulator, whose paths it
copies): `POST /identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=…` with a JSON body
answers `idToken` / `refreshToken` / `expiresIn` / `localId`, and `POST
/securetoken.googleapis.com/v1/token?key=…` with a form body (`grant_type=refresh_token`) answers
`id_token` / `refresh_token` / `expires_in` / `user_id`; errors are `{"error": {"code", "message"}}`
with Google's codes (INVALID_LOGIN_CREDENTIALS, INVALID_REFRESH_TOKEN, API key errors). ID tokens are
RS256 from a `LocalIssuer` whose JWKS the api under test trusts. It answers CORS like Google does (the
pages call it from another origin). Nothing else of Identity Platform is here.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.id_tokens import LocalIssuer

SIGN_IN = "/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
REFRESH = "/securetoken.googleapis.com/v1/token"


@dataclass
class Account:
    local_id: str
    email: str
    password: str


@dataclass
class FakeIdentityToolkit:
    """Accounts by email; counts what was asked, for tests to assert on."""

    issuer: LocalIssuer
    api_key: str = "fake-web-api-key"
    sign_in_expires_in: int = 3600  # a test sets it under the pages' refresh margin to see a refresh
    accounts: dict[str, Account] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> local id
    sign_ins: int = 0
    refreshes: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.identity_toolkit_url = f"{self.origin}/identitytoolkit.googleapis.com/v1"
        self.secure_token_url = f"{self.origin}/securetoken.googleapis.com/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add_user(self, email: str, password: str) -> Account:
        account = Account(local_id="uid-" + secrets.token_hex(6), email=email, password=password)
        self.accounts[email.lower()] = account
        return account

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the two calls ------------------------------------------------------------------------------
    def sign_in(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        account = self.accounts.get(str(body.get("email", "")).lower())
        if account is None or body.get("password") != account.password:
            return _error(400, "INVALID_LOGIN_CREDENTIALS")
        with self._lock:
            self.sign_ins += 1
            refresh = self._new_refresh(account)
        return 200, {
            "kind": "identitytoolkit#VerifyPasswordResponse",
            "localId": account.local_id,
            "email": account.email,
            "displayName": "",
            "idToken": self._id_token(account, self.sign_in_expires_in),
            "registered": True,
            "refreshToken": refresh,
            "expiresIn": str(self.sign_in_expires_in),
        }

    def refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "refresh_token":
            return _error(400, "INVALID_GRANT_TYPE")
        with self._lock:
            local_id = self.refresh_tokens.get(form.get("refresh_token", ""))  # Google's are reusable
            account = next((a for a in self.accounts.values() if a.local_id == local_id), None)
            if account is None:
                return _error(400, "INVALID_REFRESH_TOKEN")
            self.refreshes += 1
        refresh = form["refresh_token"]
        id_token = self._id_token(account, 3600)
        return 200, {
            "access_token": id_token,
            "expires_in": "3600",
            "token_type": "Bearer",
            "refresh_token": refresh,  # Google answers the same refresh token
            "id_token": id_token,
            "user_id": account.local_id,
            "project_id": "0",
        }

    def _new_refresh(self, account: Account) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = account.local_id
        return token

    def _id_token(self, account: Account, ttl: int) -> str:
        firebase = {"identities": {"email": [account.email]}, "sign_in_provider": "password"}
        return self.issuer.token(
            account.local_id,
            ttl=ttl,
            email=account.email,
            email_verified=False,
            user_id=account.local_id,
            firebase=firebase,
        )


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    errors = [{"message": message, "domain": "global", "reason": "invalid"}]
    return status, {"error": {"code": status, "message": message, "errors": errors}}


def _handler(fake: FakeIdentityToolkit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

        def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Vary", "Origin")
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # CORS preflight, as Google answers it
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", ""))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            key = parse_qs(url.query).get("key", [""])[0]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if key != fake.api_key:
                self._send(*_error(400, "API key not valid. Please pass a valid API key."))
            elif url.path == SIGN_IN:
                self._send(*fake.sign_in(json.loads(raw or "{}")))
            elif url.path == REFRESH:
                self._send(*fake.refresh({k: v[0] for k, v in parse_qs(raw).items()}))
            else:
                self._send(*_error(404, "NOT_FOUND"))

    return Handler
