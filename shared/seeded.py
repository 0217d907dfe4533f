"""Requests that name a seed: exactly that seed's output (docs/ARCHITECTURE.md, Seeds).

Without a seed a user gets a variant they have not seen (lifecycle.serve_cached). With one they asked
for a particular picture, so:
- a ready variant of the prompt key made with that seed is served, even one they were shown before;
  the variant may have been made for an unseeded request (that is how Re-run and Copy as curl of any
  run reproduce it) or for an earlier seeded one;
- otherwise that seed is generated once. Its job runs under the *seeded key*: the prompt key with the
  seed among its params. So two concurrent requests for one key and seed share one job (single-flight,
  shared/singleflight.py), the seeded key only ever holds that seed's variant, and pre-generation,
  which adds variants with fresh seeds, is never asked to fill it.
"""

from __future__ import annotations

from shared.concurrency import overlapped
from shared.delivery import mark_seen
from shared.domain.models import PromptKey, Variant
from shared.domain.prompts import prompt_key
from shared.domain.selection import servable
from shared.lifecycle import Admit
from shared.ports import DocumentStore
from shared.records import VARIANTS

SEED_PARAM = "seed"


def seeded_key(key: PromptKey, params: dict[str, object], seed: int) -> PromptKey:
    """The prompt key of `seed`'s output: `key`'s fields with the seed among its params."""
    pk, digest = prompt_key(
        soul_id=key.soul_id,
        kind=key.kind,
        text=key.text,
        style_version=key.style_version,
        params={**params, SEED_PARAM: seed},
    )
    return key.model_copy(update={"pk": pk, "params_digest": digest})


def _with_seed(store: DocumentStore, pk: str, seed: int, now: float) -> Variant | None:
    docs = store.query(VARIANTS, [("pk", "==", pk), ("seed", "==", seed)], limit=4)
    ready = sorted((Variant.model_validate(d) for d in docs), key=lambda v: (v.created_at, v.variant_id))
    return next((v for v in ready if servable(v, now)), None)


def find(store: DocumentStore, pk: str, seeded_pk: str, seed: int, now: float) -> Variant | None:
    """The oldest servable variant made with `seed`: under the plain key, else under the seeded one."""
    plain, seeded = overlapped(
        store, lambda: _with_seed(store, pk, seed, now), lambda: _with_seed(store, seeded_pk, seed, now)
    )
    return plain or seeded


def serve(
    store: DocumentStore,
    *,
    user_id: str,
    pk: str,
    seeded_pk: str,
    seed: int,
    now: float,
    admit: Admit | None = None,
) -> Variant | None:
    """That seed's ready variant, marked seen by the user (seen before or not), or None: generate it."""
    hit = find(store, pk, seeded_pk, seed, now)
    if hit is None:
        return None
    if admit is not None:
        admit(hit)  # a pre-generated variant's first viewer pays for it (shared/first_serve.py)
    mark_seen(store, user_id=user_id, variant=hit, now=now)
    return hit
