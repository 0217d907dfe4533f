"""Response model of the shared-run routes (functions/routes_runs.py)."""

from __future__ import annotations

from pydantic import BaseModel

from functions.schemas import VariantOut


class SharedRunOut(BaseModel):
    """A finished run as anyone holding its link sees it: the output (URLs signed on this read), the cue
    (the normalized label every user of the prompt is shown), and whose it is — "you" or "another user",
    never the owner's id — with what the viewer can do. Nothing else of the owner's is included."""

    task_id: str
    kind: str
    soul_id: str
    cue: str
    variant: VariantOut
    yours: bool
    shared_by: str
    can: list[str]
    url_ttl_seconds: int
