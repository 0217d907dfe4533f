"""Semantic merges as records (docs/ARCHITECTURE.md, Prompt keys): decided once, audited, undone.

When the semantic tier joins a request's own key (its tier-1 key) to an existing key, the decision is
written to `key_links/{own pk}`: the target key, the tier, the cosine, what differs between the two
texts, and the policy it was made under (shared/semantic.py `SemanticMatcher.policy`). Later requests
for the same cue read the link (one document) instead of embedding and searching again.

- A link made under another policy is re-decided on its next request (lazily): it stays, or becomes
  `released` and the cue keeps its own key from then on.
- An administrator may `unlink` a key (`soul semantic unlink PK`, `POST /admin/semantic/links/{pk}/unlink`):
  its next request generates its own variant under its own key, and no policy change re-links it.
  Variants already served under the target stay where they are: nobody's history loses anything.
- `audit` lists the linked keys lowest score first (the likeliest wrong merges), with what differs.

Nothing here is on the hit path: a cue's own variants are served before its link is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from shared.domain.models import PromptKey
from shared.errors import NotFound
from shared.ports import Doc, DocumentStore
from shared.records import KEY_LINKS
from shared.semantic import SemanticMatcher

LINKED, RELEASED, UNLINKED = "linked", "released", "unlinked"
AUDIT_READ = 1000  # links read per audit (sorted by score in memory: no composite index needed)


class Link(BaseModel):
    """One recorded merge: the request's own key, the key it is served under, and why."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    pk: str
    target: str
    text: str
    target_text: str
    score: float
    kind: str  # what differs ("words: asleep beneath -> sleeping under", "reordered")
    policy: str
    state: str
    decided_at: float

    @classmethod
    def of(cls, doc: Doc) -> Link:
        return cls.model_validate(doc)


def difference(text: str, target_text: str) -> str:
    """What kind of merge this is: the same words reordered, or which words differ."""
    a, b = Counter(text.split()), Counter(target_text.split())
    if a == b:
        return "reordered"
    only_a, only_b = " ".join(sorted((a - b).elements())), " ".join(sorted((b - a).elements()))
    if only_a and only_b:
        return f"words: {only_a} -> {only_b}"
    return f"{'extra' if only_a else 'missing'}: {only_a or only_b}"


def key_for(
    store: DocumentStore, matcher: SemanticMatcher, key: PromptKey, now: float, before_search: Callable[[], None]
) -> PromptKey:
    """The key a tier-1 miss for `key` is served under: a recorded decision, else a new one (recorded
    only when it merges). `before_search` runs before any embedding (the caller's quota check)."""
    doc = store.get(KEY_LINKS, key.pk)
    link = Link.of(doc) if doc is not None else None
    if link is not None and link.state == UNLINKED:
        return key  # an administrator's decision outlives policy changes
    if link is not None and link.policy == matcher.policy:
        return matcher.key_for(key, link.target_text) if link.state == LINKED else key
    before_search()
    decided = matcher.decide(key)
    if decided.joined is not None:
        found = decided.joined
        record: Doc = {
            "pk": key.pk,
            "target": found.key,
            "text": key.text,
            "target_text": found.text,
            "tier": "semantic",
        }
        record |= {"score": found.score, "kind": difference(key.text, found.text), "policy": matcher.policy}
        store.set(KEY_LINKS, key.pk, {**record, "state": LINKED, "decided_at": now})
    elif link is not None:
        store.update(KEY_LINKS, key.pk, {"state": RELEASED, "policy": matcher.policy, "decided_at": now})
    return decided.key


def audit(store: DocumentStore, limit: int = 100) -> list[Link]:
    """Linked keys, lowest score first."""
    docs = store.query(KEY_LINKS, [("state", "==", LINKED)], limit=AUDIT_READ)
    return sorted((Link.of(d) for d in docs), key=lambda link: (link.score, link.pk))[:limit]


def unlink(store: DocumentStore, pk: str, by: str, now: float) -> Link:
    """The key generates its own variants from its next request on; NotFound if it has no link."""
    doc = store.get(KEY_LINKS, pk)
    if doc is None:
        raise NotFound(f"no semantic link for prompt key '{pk}'")
    store.update(KEY_LINKS, pk, {"state": UNLINKED, "unlinked_by": by, "unlinked_at": now})
    return Link.of({**doc, "state": UNLINKED})
