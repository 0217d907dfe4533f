"""Sign-in in the cloud (issue 24: "nobody can sign in"), checked offline on the deploy files and
Settings: Terraform sets up Identity Platform with email/password and the pages' web API key, the api
gets the key, and what the api verifies tokens against by default is what Identity Platform issues. The
pages' side runs in Chromium (tests/browser/test_sign_in.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.tokens import JwtVerifier
from functions.web_guard import csp, sign_in_origins
from infra.rehearse_terraform import Deploy, parsed
from shared.config import Settings
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
IDENTITY = TERRAFORM / "modules" / "identity" / "main.tf"
ENV_MAIN = TERRAFORM / "envs" / "dev" / "main.tf"
SIGN_IN_APIS = {"identitytoolkit.googleapis.com", "securetoken.googleapis.com"}


def _resources(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for block in parsed(path).get("resource", []) for name, body in block.get(kind, {}).items()}


def _first(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body[key]
    return value[0] if isinstance(value, list) else value  # type: ignore[no-any-return]


def _module(name: str) -> dict[str, Any]:
    return {n: b for block in parsed(ENV_MAIN)["module"] for n, b in block.items()}[name]


def test_the_sign_in_apis_are_enabled() -> None:
    path = TERRAFORM / "modules" / "project_services" / "main.tf"
    services = {n: b for block in parsed(path)["variable"] for n, b in block.items()}["services"]["default"]
    assert SIGN_IN_APIS | {"apikeys.googleapis.com"} <= set(services)


def test_identity_platform_takes_email_and_password_from_the_apis_host() -> None:
    config = _resources(IDENTITY, "google_identity_platform_config")["this"]
    email = _first(_first(config, "sign_in"), "email")
    assert email["enabled"] is True and email["password_required"] is True
    assert _first(config, "sign_in")["allow_duplicate_emails"] is False
    module = _module("identity")
    assert module["source"] == "../../modules/identity" and "${module.services}" in module["depends_on"]
    domains = str(module["authorized_domains"])  # concat(...): the api's host, Firebase's, var.sign_in_domains
    assert "${var.region}-${var.project_id}.cloudfunctions.net" in domains and "var.sign_in_domains" in domains


def test_the_web_api_key_is_restricted_to_the_sign_in_apis_and_reaches_the_api() -> None:
    key = _resources(IDENTITY, "google_apikeys_key")["web"]
    targets = _first(key, "restrictions")["api_targets"]
    assert {t["service"] for t in targets} == SIGN_IN_APIS
    api = Deploy.load(project_id="p").functions()["api"]["env"]
    assert api["SOUL_AUTH_MODE"] == "token" and api["SOUL_FIREBASE_API_KEY"]
    # Issuer, audience, JWKS and the sign-in endpoints stay at Settings' defaults: Identity Platform's.
    assert not {"SOUL_JWKS_URL", "SOUL_TOKEN_ISSUER", "SOUL_TOKEN_AUDIENCE"} & set(api)
    assert not {"SOUL_IDENTITY_TOOLKIT_URL", "SOUL_SECURE_TOKEN_URL"} & set(api)


def test_the_apis_defaults_verify_what_identity_platform_issues(tmp_path: Path) -> None:
    """A Firebase-shaped token (issuer securetoken.google.com/<project>, audience <project>) passes the
    verifier built from Settings with only the project and the keys given; the cloud's keys are Google's."""
    issuer = LocalIssuer()
    settings = Settings(
        soul_auth_mode="token", google_cloud_project=PROJECT, soul_jwks_file=issuer.write_jwks(tmp_path / "k.json")
    )
    assert JwtVerifier.from_settings(settings).subject(issuer.token("uid-1")) == "uid-1"
    defaults = Settings(soul_auth_mode="token", google_cloud_project=PROJECT)
    assert defaults.soul_jwks_url.endswith("/jwk/securetoken@system.gserviceaccount.com")
    assert defaults.soul_identity_toolkit_url == "https://identitytoolkit.googleapis.com/v1"
    assert defaults.soul_secure_token_url == "https://securetoken.googleapis.com/v1"


def test_the_pages_may_connect_to_the_sign_in_endpoints_in_token_mode_only() -> None:
    token = Settings(soul_auth_mode="token", google_cloud_project="p")
    origins = sign_in_origins(token)
    assert origins == ("https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com")
    assert "connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com;" in csp(
        None, origins
    )
    assert sign_in_origins(Settings(soul_auth_mode="dev")) == ()
    assert "connect-src 'self';" in csp(None, ())
