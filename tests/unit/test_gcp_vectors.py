"""The cloud vector index while Firestore's vector index is missing or building (issue 24).

A first apply, or an apply that replaces the index, leaves `find_nearest` answering FAILED_PRECONDITION
for minutes. The semantic tier must read that as "no semantic match" (the exact-key path serves the
request), not turn every miss into a 500. The emulator never enforces the index, so a hand-written
double of the Firestore client answers as the real service does.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.gcp_vectors import FirestoreVectorIndex
from shared.errors import Unavailable

pytestmark = pytest.mark.unit


class Query:
    """collection().where().find_nearest().get(), failing as the service does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def collection(self, name: str) -> Query:
        return self

    def where(self, **kwargs: Any) -> Query:
        return self

    def find_nearest(self, **kwargs: Any) -> Query:
        return self

    def get(self) -> list[Any]:
        raise self.error


def test_an_index_still_building_is_no_semantic_match() -> None:
    building = gexc.FailedPrecondition("Missing vector index configuration. Please create the required index")
    index = FirestoreVectorIndex("p", client=Query(building))  # type: ignore[arg-type]
    assert index.nearest("nova/image/v1", [0.1] * 256, 5) == []


def test_an_unavailable_service_is_still_retryable() -> None:
    index = FirestoreVectorIndex("p", client=Query(gexc.ServiceUnavailable("down")))  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        index.nearest("nova/image/v1", [0.1] * 256, 5)
