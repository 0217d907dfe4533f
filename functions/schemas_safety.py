"""Request and response models of the content-safety routes (functions/routes_safety.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from functions.schemas import Strict, Urls, UserId

Reason = Literal["sexual", "minors", "violence", "self_harm", "hate", "illegal", "spam", "other"]  # = reports.REASONS
Note = Annotated[str, StringConstraints(max_length=500)]


class ReportBody(Strict):
    reason: Reason
    note: Note = ""
    user_id: UserId | None = None


class ReportOut(BaseModel):
    variant_id: str
    reported: bool = True
    reporters: int
    hidden: bool


class ReportsQuery(Strict):
    limit: int = Field(default=20, ge=1, le=100)
    before: float | None = Field(default=None, description="last_at of the previous page's last entry")


class ReportEntryOut(BaseModel):
    variant_id: str
    pk_id: str = ""
    label: str = ""
    status: str = "open"  # open | removed | restored
    variant_status: str = ""  # ready | hidden | removed
    reporters: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    last_at: float = 0.0
    decided_by: str | None = None
    urls: Urls = Field(default_factory=Urls)


class ReportsOut(BaseModel):
    reports: list[ReportEntryOut]
    next_before: float | None = None


class DecisionBody(Strict):
    block_key: bool = False
    note: Note = ""
    user_id: UserId | None = None  # dev mode: who decides (token mode: the administrator's subject)


class DecisionOut(BaseModel):
    variant_id: str
    status: str
    key_blocked: bool = False
