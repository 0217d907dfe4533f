"""Records and artifacts agree (docs/ARCHITECTURE.md, Records): variant records live exactly as
long as the bucket keeps their objects, Firestore's TTL policies cover every collection whose records
carry `expire_at`, and the hit path never serves a variant close to (or past) its end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.rehearse_terraform import parsed
from shared import records
from shared.domain.models import Kind, Variant
from shared.domain.selection import SERVE_MARGIN_SECONDS, pick_unseen, servable

pytestmark = pytest.mark.unit

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"


def _variable_default(path: Path, name: str) -> Any:
    return next(v[name]["default"] for v in parsed(path)["variable"] if name in v)


def test_variant_lifetime_is_the_buckets_lifecycle_age() -> None:
    assert (
        _variable_default(TERRAFORM / "modules/storage/main.tf", "artifact_max_age_days")
        == records.VARIANT_LIFETIME_DAYS
    )
    assert (
        _variable_default(TERRAFORM / "envs/dev/variables.tf", "artifact_max_age_days") == records.VARIANT_LIFETIME_DAYS
    )


def test_ttl_policies_cover_the_collections_that_expire() -> None:
    fields = [
        body
        for block in parsed(TERRAFORM / "modules/firestore/main.tf")["resource"]
        for body in block.get("google_firestore_field", {}).values()
    ]
    assert len(fields) == 1 and fields[0]["field"] == records.TTL_FIELD
    assert "ttl_config" in fields[0]
    assert set(
        fields[0]["for_each"].removeprefix("${toset(").removesuffix(")}").replace('"', "").strip("[]").split(", ")
    ) == set(records.TTL_COLLECTIONS)


def _variant(vid: str, created: float, expire: float) -> Variant:
    return Variant(
        variant_id=vid, pk="k", kind=Kind.IMAGE, soul_id="s", seed=0, generator="g", job_id="j",
        created_at=created, expire_at=expire,
    )  # fmt: skip


def test_the_hit_path_skips_variants_whose_objects_are_about_to_go() -> None:
    now = 1000.0
    old = _variant("old", 1.0, now + SERVE_MARGIN_SECONDS - 1)  # its objects go before a URL signed now expires
    young = _variant("young", 2.0, now + SERVE_MARGIN_SECONDS + 1)
    assert not servable(old, now) and servable(young, now)
    assert pick_unseen([old, young], [], now) == young
    assert pick_unseen([old], [], now) is None
