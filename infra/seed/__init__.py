"""Seed data (souls with style profiles, cities with landmarks), loaded create-if-absent."""

from __future__ import annotations

import json
from pathlib import Path

from shared.bootstrap import Backend
from shared.domain.models import City, StyleProfile
from shared.records import CITIES, STYLES

HERE = Path(__file__).parent


def load(backend: Backend) -> dict[str, int]:
    """Create missing styles and cities; never overwrites an edited profile. Returns counts created."""
    now = backend.clock.now()
    created = {"styles": 0, "cities": 0}
    for raw in json.loads((HERE / "styles.json").read_text()):
        style = StyleProfile.model_validate({**raw, "created_at": now, "updated_at": now})
        created["styles"] += backend.store.create(STYLES, style.soul_id, style.doc())
    for raw in json.loads((HERE / "places.json").read_text()):
        city = City.model_validate(raw)
        created["cities"] += backend.store.create(CITIES, city.city_key, city.doc())
    return created
