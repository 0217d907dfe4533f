"""BlobStore on Cloud Storage (or fake-gcs-server, via STORAGE_EMULATOR_HOST).

Object names follow the same rule as the local store (`fs_blobs.check_name`), so a name that works in
one backend works in the other. `put` is create-only (`if_generation_match=0`: 412 → AlreadyExists)
with the given content type.
`signed_url` returns a V4 signed URL (GET, at most 7 days), signed by whichever signer applies:
- credentials that hold a private key (a service-account key file) sign locally;
- on Cloud Run the runtime credentials hold no key, so the URL is signed through the IAM signBlob API
  (`service_account_email` + a fresh `access_token`); the runtime service account needs
  `iam.serviceAccounts.signBlob` on itself (roles/iam.serviceAccountTokenCreator);
- against fake-gcs-server (anonymous credentials) the URL is signed with a throwaway RSA key made in
  this process and points at the emulator. fake-gcs serves V4 URLs without verifying the signature,
  so the URL fetches the object and has exactly the production shape (X-Goog-Algorithm, -Credential,
  -Date, -Expires, -SignedHeaders, -Signature), but it proves nothing about signing itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from functools import cached_property
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage  # type: ignore[attr-defined]

from shared.adapters.fs_blobs import check_name
from shared.errors import AlreadyExists, InvalidInput, NotFound, Unavailable

MAX_TTL_SECONDS = 7 * 24 * 3600
_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.GatewayTimeout)


def _throwaway_signer() -> Any:
    """Service-account credentials around a fresh RSA key: the emulator accepts any signature."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "client_email": "emulator-signer@soul-local.iam.gserviceaccount.com",
        "private_key": pem.decode(),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]


class GcsBlobStore:
    def __init__(self, project: str, bucket: str, signer_email: str = "") -> None:
        self._project = project
        self._bucket_name = bucket
        self._signer_email = signer_email

    @cached_property
    def client(self) -> storage.Client:
        return storage.Client(project=self._project)

    @cached_property
    def bucket(self) -> storage.Bucket:
        return self.client.bucket(self._bucket_name)

    @property
    def emulated(self) -> bool:
        return bool(os.environ.get("STORAGE_EMULATOR_HOST"))

    def _blob(self, name: str) -> storage.Blob:
        return self.bucket.blob(check_name(name))

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (emulators and dev; production buckets come from Terraform)."""
        with contextlib.suppress(gexc.Conflict):
            self.client.create_bucket(self._bucket_name)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        blob = self._blob(name)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        except gexc.PreconditionFailed:
            raise AlreadyExists(f"object {name} already exists") from None
        except _TRANSIENT as exc:
            raise Unavailable(f"upload of {name} failed: {exc}") from exc

    def get(self, name: str) -> bytes:
        try:
            data: bytes = self._blob(name).download_as_bytes()
        except gexc.NotFound:
            raise NotFound(f"object {name} not found") from None
        return data

    def exists(self, name: str) -> bool:
        return bool(self._blob(name).exists())

    def delete(self, name: str) -> None:
        with contextlib.suppress(gexc.NotFound):
            self._blob(name).delete()

    def list(self, prefix: str = "", *, start_after: str = "", limit: int | None = None) -> list[str]:
        # GCS lists in name order; start_offset is inclusive, so one more is asked for and the equal one dropped.
        blobs = self.client.list_blobs(
            self._bucket_name,
            prefix=prefix or None,
            start_offset=start_after or None,
            max_results=None if limit is None else limit + 1,
        )
        names = sorted(name for name in (blob.name for blob in blobs) if name > start_after)
        return names if limit is None else names[:limit]

    def signed_url(self, name: str, ttl_seconds: int) -> str:
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidInput(f"signed URL ttl must be 1..{MAX_TTL_SECONDS} s, got {ttl_seconds}")
        options: dict[str, Any] = {"version": "v4", "method": "GET", "expiration": dt.timedelta(seconds=ttl_seconds)}
        url: str = self._blob(name).generate_signed_url(**options, **self._signing())
        return url

    def _signing(self) -> dict[str, Any]:
        if self.emulated:
            return {"credentials": self._emulator_signer, "api_access_endpoint": os.environ["STORAGE_EMULATOR_HOST"]}
        credentials = self.client._credentials
        if hasattr(credentials, "sign_bytes") and hasattr(credentials, "signer_email"):
            return {}
        return self._iam_signing(credentials)

    @cached_property
    def _emulator_signer(self) -> Any:
        return _throwaway_signer()

    def _iam_signing(self, credentials: Any) -> dict[str, Any]:
        """Cloud Run: no private key, so sign through IAM signBlob with a fresh access token."""
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        email = self._signer_email or getattr(credentials, "service_account_email", "")
        return {"service_account_email": email, "access_token": credentials.token}
