"""The semantic tier's Firestore vector index (issue 17) matches the adapter and the embedders.

Firestore's find_nearest needs a vector index on (space, embedding) with the embedder's dimension;
the emulator does not enforce it, so this test is what keeps Terraform, the emulator's index file and
the code in step (test_deploy_consistency covers the store's ordinary composite indexes).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from infra.rehearse_terraform import parsed
from shared.adapters.gcp_vectors import COLLECTION
from shared.adapters.static_embed import StaticEmbedder
from shared.adapters.vertex_embed import VertexEmbedder

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _terraform_vector_indexes() -> list[dict[str, Any]]:
    tf = parsed(ROOT / "terraform" / "modules" / "firestore" / "main.tf")
    bodies = [b for block in tf["resource"] for b in block.get("google_firestore_index", {}).values()]
    return [b for b in bodies if any("vector_config" in f for f in b["fields"])]


def test_terraform_declares_the_vector_index_the_adapter_queries() -> None:
    (index,) = _terraform_vector_indexes()
    assert index["collection"] == COLLECTION
    space, name, embedding = index["fields"]
    assert space["field_path"] == "space" and space["order"] == "ASCENDING"
    # As the API returns it (it inserts __name__ before the vector field): else every apply replaces it.
    assert name == {"field_path": "__name__", "order": "ASCENDING"}
    assert embedding["field_path"] == "embedding"
    config = (
        embedding["vector_config"][0] if isinstance(embedding["vector_config"], list) else embedding["vector_config"]
    )
    dimension = int(config["dimension"])
    assert dimension == StaticEmbedder.dim
    assert dimension == inspect.signature(VertexEmbedder).parameters["dim"].default


def test_the_emulator_index_file_declares_the_same_vector_index() -> None:
    data = json.loads((ROOT / "infra" / "firestore.indexes.json").read_text())
    (index,) = [ix for ix in data["indexes"] if any("vectorConfig" in f for f in ix["fields"])]
    assert index["collectionGroup"] == COLLECTION
    assert [f["fieldPath"] for f in index["fields"]] == ["space", "__name__", "embedding"]
    assert index["fields"][2]["vectorConfig"]["dimension"] == StaticEmbedder.dim
