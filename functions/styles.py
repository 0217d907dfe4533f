"""Style profiles: create / update (a content change bumps the version, so old cached variants stop
matching new requests but stay readable), read, list, and delete (archives a soul that has variants,
never orphans them)."""

from __future__ import annotations

from shared.bootstrap import Backend
from shared.domain.models import StyleParams, StyleProfile
from shared.ports import Tx
from shared.records import STYLES, VARIANTS, Records


class StyleService:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.records = Records(backend.store)

    def upsert(
        self, soul_id: str, display_name: str, template: str, negative: str, params: StyleParams, description: str = ""
    ) -> StyleProfile:
        """A description change alone keeps the version: it is not part of any prompt."""
        now = self.backend.clock.now()

        def run(tx: Tx) -> StyleProfile:
            doc = tx.get(STYLES, soul_id)
            current = StyleProfile.model_validate(doc) if doc else None
            new = StyleProfile(
                soul_id=soul_id,
                display_name=display_name or soul_id,
                description=description,
                prompt_template=template,
                negative_prompt=negative,
                params=params,
                created_at=now,
                updated_at=now,
            )
            if current is not None:
                same = (current.prompt_template, current.negative_prompt, current.params) == (
                    template,
                    negative,
                    params,
                )
                bump = 0 if same and not current.archived else 1
                new = new.model_copy(update={"version": current.version + bump, "created_at": current.created_at})
            tx.set(STYLES, soul_id, new.doc())
            return new

        style = self.backend.store.transaction(run)
        self.records.forget_style(soul_id)
        return style

    def get(self, soul_id: str) -> StyleProfile:
        return self.records.style(soul_id)

    def list(self) -> list[StyleProfile]:
        return self.records.styles()

    def delete(self, soul_id: str) -> str:
        """'archived' when variants exist (they stay readable), else 'deleted'."""
        self.records.style(soul_id)
        try:
            if self.backend.store.count(VARIANTS, [("soul_id", "==", soul_id)]) > 0:
                self.backend.store.update(STYLES, soul_id, {"archived": True, "updated_at": self.backend.clock.now()})
                return "archived"
            self.backend.store.delete(STYLES, soul_id)
            return "deleted"
        finally:
            self.records.forget_style(soul_id)
