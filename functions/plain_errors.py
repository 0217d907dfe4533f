"""Request validation errors in plain words, with the field at fault (docs/PLAYGROUND.md, Inputs).

pydantic says "cue: String should have at least 1 character"; a person needs "Write a cue of 1–300
characters." The limits in each sentence are read from the request model itself, so the words and the
check cannot drift apart, and the field's name goes back beside the message (`error.field`) so a page can
put it next to that field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

LABELS = {
    "cue": "cue",
    "positive_prompt": "prompt",
    "negative_prompt": "negative prompt",
    "soul_id": "soul",
    "city_key": "city",
    "guidance_scale": "guidance",
    "num_frames": "number of frames",
    "user_id": "user id",
    "variant_id": "variant id",
}
TEXTS = {"cue", "positive_prompt", "negative_prompt", "mood", "display_name", "prompt_template", "description"}
CHOICES = {"soul_id": "Choose a soul from the list.", "city_key": "Choose a city from the list."}
PATTERNS = {
    "mood": "Write the mood in letters (spaces and hyphens allowed).",
    "user_id": "A user id has letters, digits and _ . @ : - only, and starts with a letter or digit.",
}
MAX_SHOWN = 5


def _label(field: str) -> str:
    return LABELS.get(field, field.replace("_", " "))


def _limits(model: type[BaseModel] | None, field: str) -> dict[str, Any]:
    """The field's JSON-schema constraints (its non-null branch when optional)."""
    if model is None:
        return {}
    prop = model.model_json_schema().get("properties", {}).get(field, {})
    merged = dict(prop)
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            merged.update(branch)
    return merged


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _text(field: str, limits: dict[str, Any], given: Any) -> str:
    low, high = limits.get("minLength", 0), limits.get("maxLength")
    label = _label(field)
    if high is None:
        return f"Write a {label}."
    rule = f"Write a {label} of {low}–{high:,} characters." if low else f"Keep the {label} to {high:,} characters."
    if isinstance(given, str) and len(given) > high:
        return f"{rule} This one has {len(given):,}."
    if isinstance(given, str) and not given.strip():
        return f"{rule} Spaces alone do not count."
    return rule


def _range(field: str, limits: dict[str, Any]) -> str:
    low, high = limits.get("minimum"), limits.get("maximum")
    whole = limits.get("type") == "integer"
    step = limits.get("multipleOf")
    kind = f"a multiple of {_number(step)}" if step else "a whole number" if whole else "a number"
    span = f" from {_number(low)} to {_number(high)}" if low is not None and high is not None else ""
    return f"{_label(field).capitalize()} must be {kind}{span}."


def sentence(model: type[BaseModel] | None, error: Any) -> tuple[str | None, str]:
    """(field, message) for one pydantic error."""
    loc = [str(p) for p in error["loc"]]
    field = loc[-1] if loc else None
    kind = error["type"]
    if field is None:
        return None, "The request is not in the form this endpoint takes."
    if kind == "extra_forbidden":
        return field, f"'{field}' is not something this request takes (file paths are never accepted)."
    limits = _limits(model, field)
    if field in TEXTS and kind in {"string_too_short", "string_too_long", "missing", "string_type"}:
        return field, _text(field, limits, error.get("input"))
    if field in CHOICES:
        return field, CHOICES[field]
    if field in PATTERNS and kind == "string_pattern_mismatch":
        return field, PATTERNS[field]
    if kind == "missing":
        return field, f"The {_label(field)} is required."
    if limits.get("type") in {"integer", "number"}:
        return field, _range(field, limits)
    return field, f"{_label(field).capitalize()}: {error['msg']}."


def explain(exc: ValidationError, models: tuple[type[BaseModel] | None, ...]) -> tuple[str | None, str]:
    """The first field at fault and every problem in words (up to MAX_SHOWN)."""
    model = next((m for m in models if m is not None and m.__name__ == exc.title), None)
    said = [sentence(model, error) for error in exc.errors()[:MAX_SHOWN]]
    messages = list(dict.fromkeys(message for _, message in said))
    field = next((f for f, _ in said if f is not None), None)
    return field, " ".join(messages)
