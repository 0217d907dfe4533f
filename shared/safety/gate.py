"""The prompt check on every miss path (docs/SAFETY.md): one call before quota, key or job.

Decisions are cached per normalized text and policy (`PromptGate.policy`: the operator's
SOUL_SAFETY_POLICY_VERSION, the moderator and its version): in process always, and in the record store
too when the moderator is remote, so a repeated cue costs no second check. A blocked request writes one
audit record and nothing else, and raises ContentBlocked (4xx, the category in words). The hit path
calls nothing here unless the variant it serves was made under an older policy (`stale`): keys that
exist were allowed when made, and a policy change re-checks them lazily, once per text.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections import OrderedDict

from shared.errors import ContentBlocked
from shared.ids import new_id
from shared.logging import get_logger
from shared.ports import Clock, DocumentStore
from shared.records import AUDIT, BLOCKED_KEYS, MODERATION
from shared.safety.policy import ALLOWED, TextModerator, Verdict

log = get_logger("soul.safety")
CACHE_SIZE = 8192  # decisions kept in process (a few hundred bytes each)
AUDIT_TEXT_CHARS = 300


def normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class PromptGate:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        moderator: TextModerator | None,
        *,
        policy_version: str,
        strict_souls: frozenset[str] = frozenset(),
    ) -> None:
        self.store, self.clock, self.moderator = store, clock, moderator
        self.strict_souls = strict_souls
        self.policy = f"{policy_version}/{moderator.name}:{moderator.version}" if moderator else f"{policy_version}/off"
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._lock = threading.Lock()
        self.checks = 0  # moderator calls made (the bench and tests read it)

    # -- the miss path ----------------------------------------------------------------------------
    def check(self, user_id: str, text: str, *, soul_id: str, kind: str) -> None:
        """Raise ContentBlocked (after one audit record) when the text is not allowed for this soul."""
        verdict = self.decide(text, strict=soul_id in self.strict_souls)
        if verdict.allowed:
            return
        self.store.create(
            AUDIT,
            new_id(),
            {
                "action": "prompt_blocked",
                "user_id": user_id,
                "at": self.clock.now(),
                "soul_id": soul_id,
                "kind": kind,
                "category": verdict.category,
                "policy": self.policy,
                "text": text[:AUDIT_TEXT_CHARS],
            },
        )
        log.info("prompt blocked", extra={"category": verdict.category, "soul_id": soul_id, "kind": kind})
        raise ContentBlocked(f"this request was blocked by content safety: {verdict.words}")

    def admin_blocked(self, pk: str) -> bool:
        """A key an administrator blocked (POST /admin/variants/{id}/remove with block_key): refused."""
        doc = self.store.get(BLOCKED_KEYS, pk)
        return doc is not None and doc.get("by") == "admin"

    def refuse_blocked_key(self, pk: str) -> None:
        if self.admin_blocked(pk):
            raise ContentBlocked("this request was blocked by content safety: an administrator removed this prompt")

    # -- the hit path -----------------------------------------------------------------------------
    def stale(self, variant_policy: str) -> bool:
        """A variant made under another policy: its text is checked again (cached) before it is served."""
        return self.moderator is not None and variant_policy != self.policy

    # -- decisions --------------------------------------------------------------------------------
    def decide(self, text: str, *, strict: bool = False) -> Verdict:
        if self.moderator is None:
            return ALLOWED
        key = hashlib.sha256(f"{self.policy}\n{int(strict)}\n{normalized(text)}".encode()).hexdigest()
        with self._lock:
            if (hit := self._cache.get(key)) is not None:
                self._cache.move_to_end(key)
                return hit
        verdict = self._stored(key) if self.moderator.remote else None
        if verdict is None:
            verdict = self.moderator.moderate(normalized(text), strict)
            self.checks += 1
            if self.moderator.remote:
                self.store.set(MODERATION, key, _doc(verdict, self.policy, self.clock.now()))
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return verdict

    def _stored(self, key: str) -> Verdict | None:
        doc = self.store.get(MODERATION, key)
        if doc is None:
            return None
        return Verdict(bool(doc["allowed"]), str(doc.get("category", "")), dict(doc.get("scores", {})))


def _doc(verdict: Verdict, policy: str, now: float) -> dict[str, object]:
    return {
        "allowed": verdict.allowed,
        "category": verdict.category,
        "scores": verdict.scores,
        "policy": policy,
        "at": now,
    }
