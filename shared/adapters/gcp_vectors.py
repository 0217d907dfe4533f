"""VectorIndex on Cloud Firestore vector search (`find_nearest`), the semantic tier's cloud index.

One document per prompt key in `semantic_keys` (id = space + key): the space, the key, its matching
text and a `Vector` field. `nearest` is an equality filter on `space` plus `find_nearest` by cosine
distance, which needs the composite vector index declared in terraform/modules/firestore (space
ascending + embedding, flat, dimension = the embedder's). Firestore returns a cosine *distance*
(1 − cosine), converted back here. The emulator serves find_nearest without enforcing the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
from google.cloud.firestore_v1.vector import Vector

from shared.errors import Unavailable
from shared.logging import get_logger
from shared.ports import Neighbour

if TYPE_CHECKING:
    from shared.config import Settings

COLLECTION = "semantic_keys"
_DISTANCE = "distance"
log = get_logger("soul.semantic")


class FirestoreVectorIndex:
    def __init__(self, project: str, database: str = "(default)", client: firestore.Client | None = None) -> None:
        self._project = project
        self._database = database
        if client is not None:  # tests pass a double of the client; production builds it on first use
            self.__dict__["client"] = client

    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreVectorIndex:
        return cls(settings.google_cloud_project, settings.firestore_database)

    @cached_property
    def client(self) -> firestore.Client:
        return firestore.Client(project=self._project, database=self._database)

    def _doc(self, space: str, key: str) -> firestore.DocumentReference:
        return self.client.collection(COLLECTION).document(f"{space}-{key}")

    def add(self, space: str, key: str, text: str, vector: Sequence[float]) -> None:
        data = {"space": space, "pk": key, "text": text, "embedding": Vector([float(x) for x in vector])}
        try:
            self._doc(space, key).set(data)
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded) as exc:
            raise Unavailable(f"firestore unavailable (vector add): {exc.message}") from exc

    def has(self, space: str, key: str) -> bool:
        return bool(self._doc(space, key).get().exists)

    def nearest(self, space: str, vector: Sequence[float], limit: int) -> list[Neighbour]:
        query = (
            self.client.collection(COLLECTION)
            .where(filter=FieldFilter("space", "==", space))
            .find_nearest(
                vector_field="embedding",
                query_vector=Vector([float(x) for x in vector]),
                distance_measure=DistanceMeasure.COSINE,
                limit=limit,
                distance_result_field=_DISTANCE,
            )
        )
        try:
            snaps = list(query.get())  # type: ignore[call-arg]  # the stubs mistype VectorQuery.get
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded) as exc:
            raise Unavailable(f"firestore unavailable (vector search): {exc.message}") from exc
        except gexc.FailedPrecondition as exc:  # the vector index is missing or still building
            log.warning("semantic index not ready, no semantic match: %s", exc.message)
            return []
        out = []
        for snap in snaps:
            doc = snap.to_dict() or {}
            out.append(Neighbour(str(doc["pk"]), str(doc["text"]), 1.0 - float(doc[_DISTANCE])))
        return out
