"""What the pages need to build their forms honestly: the request limits the API enforces (so no page
writes them again by hand), and a sample image of each soul, made by this deployment's own generator."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from functions import schemas as s
from functions.routes import Call, router
from shared.errors import RateLimited

LIMITED = ("cue", "seed", *s.OPTIONS)
# A soul's sample is an ordinary seeded request by this user: made once per soul and style version by
# whatever generator the image lane runs (a labelled preview card when there are no weights), then cached.
# It is a card-sized picture (the soul's shape, long side SAMPLE_SIDE): cheaper than a full image, and a
# shape of its own, so its run never stands for a full image's in the measured timings.
SAMPLE_USER = "soul-samples"
SAMPLE_CUE = "portrait, looking at the viewer"
SAMPLE_SEED = 1
SAMPLE_SIDE = 512


def _limits(model: type[BaseModel]) -> dict[str, s.LimitOut]:
    out = {}
    for name, prop in model.model_json_schema()["properties"].items():
        if name not in LIMITED:
            continue
        merged: dict[str, Any] = dict(prop)
        for branch in prop.get("anyOf", []):
            if branch.get("type") != "null":
                merged.update(branch)
        out[name] = s.LimitOut(
            type=merged.get("type", "string"),
            minimum=merged.get("minimum"),
            maximum=merged.get("maximum"),
            min_length=merged.get("minLength"),
            max_length=merged.get("maxLength"),
            multiple_of=merged.get("multipleOf"),
        )
    return out


@router.add(
    "GET",
    "/limits",
    summary="The limits of the cue requests' fields (cue length, seed, steps, guidance, size)",
    tag="image",
    responses={200: s.LimitsOut},
)
def get_limits(call: Call) -> tuple[int, BaseModel]:
    return 200, s.LimitsOut(image=_limits(s.ImageQuery), wan=_limits(s.WanQuery))


@router.add(
    "GET",
    "/style/{soul_id}/sample",
    summary="A sample image of the soul made here (a labelled preview when no model is installed)",
    tag="style",
    responses={200: s.SampleOut},
)
def get_sample(call: Call) -> tuple[int, BaseModel]:
    soul_id = call.path["soul_id"]
    making = s.SampleOut(soul_id=soul_id, cue=SAMPLE_CUE, status="making")
    params = call.ctx.generation.records.cached_style(soul_id).params
    scale = SAMPLE_SIDE / max(params.width, params.height)
    size = {side: max(64, round(getattr(params, side) * scale / 8) * 8) for side in ("width", "height")}
    try:
        outcome = call.ctx.generation.image(SAMPLE_USER, soul_id, SAMPLE_CUE, SAMPLE_SEED, size)
    except RateLimited:
        return 200, making  # the sample's job is under way (each ask while it runs is charged); ask again later
    variant = outcome.served.variant
    art = variant.artifacts.get("png") if variant is not None else None
    if variant is None or art is None:
        return 200, making
    return 200, s.SampleOut(
        soul_id=soul_id,
        cue=SAMPLE_CUE,
        status="ready",
        generator=variant.generator,
        image_url=call.ctx.urls.url(art.name),
        variant_id=variant.variant_id,
    )
