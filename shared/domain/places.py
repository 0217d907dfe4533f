"""Landmark choice for selfies: the landmark this user and soul saw least recently (never-used first)."""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.models import City, Landmark


def choose_landmark(city: City, last_used: Mapping[str, float]) -> Landmark:
    """Least recently used; ties broken by the city's listed order, so the choice is deterministic."""
    order = {lm.key: i for i, lm in enumerate(city.landmarks)}
    return min(city.landmarks, key=lambda lm: (last_used.get(lm.key, -1.0), order[lm.key]))
