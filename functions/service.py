"""The service layer the routes call: cache lookups, single-flight job submission, publishing.

Each request becomes a prompt key (docs/ARCHITECTURE.md, Prompt keys); the hit path hands the user a ready variant they
have
not seen (lifecycle.serve_cached), else the user is attached to the key's in-flight job or creates it
(shared/singleflight.py: no document shared by the key's users is rewritten). Only the creator of a
job publishes its message, after the job document exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared import delivery, first_serve, history, keylinks, lifecycle, seeded, singleflight, tracing
from shared import metrics as soul_metrics
from shared.bootstrap import Backend
from shared.concurrency import overlapped
from shared.domain import similarity
from shared.domain.models import GenerationSpec, Job, Kind, PromptKey, StyleParams, StyleProfile, Variant
from shared.domain.places import choose_landmark
from shared.domain.prompts import normalize, prompt_key
from shared.errors import InvalidInput, NotFound
from shared.ids import new_id, seed_from
from shared.logging import get_logger
from shared.pregen import DemandRecorder
from shared.records import PLACES, PLACES_LIFETIME_SECONDS, PROMPT_KEYS, TTL_FIELD, Records
from shared.safety.build import prompt_gate
from shared.semantic import build as build_semantic

log = get_logger("soul.api")


@dataclass(frozen=True)
class Outcome:
    served: lifecycle.Served
    pk: str
    landmark_key: str | None = None
    # How it was served (shared/metrics.py REQUEST_OUTCOMES): hit, semantic_merge, attach or miss.
    how: str = "miss"


def _no_quota(user_id: str) -> None:
    """No quota configured (unit tests of the service alone)."""


def _with_options(params: StyleParams, options: dict[str, Any]) -> StyleParams:
    """The soul's params with the request's options; a combination the style cannot run is a 422."""
    try:
        return StyleParams.model_validate({**params.model_dump(), **options})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = next((str(p) for p in error["loc"] if p in options), next(iter(options)))
        why = str(error["msg"]).removeprefix("Value error, ")  # the style's own check (StyleParams), in its words
        raise InvalidInput(f"These settings do not work with this soul: {why}.", field=field) from None


def _how(served: lifecycle.Served, *, joined: bool) -> str:
    """A request past the cache's first look: joined to another key, a new job, a variant found on the way
    (another request's job just finished) or attached to the key's job in flight."""
    if joined:
        return "semantic_merge"
    return "miss" if served.created else "hit" if served.variant is not None else "attach"


class GenerationService:
    def __init__(
        self,
        backend: Backend,
        take_quota: Callable[[str], None] = _no_quota,
        peek_quota: Callable[[str], None] = _no_quota,
        metrics: soul_metrics.Metrics | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics or soul_metrics.current()
        self.settings = backend.settings
        self.records = Records(backend.store)
        # Charged only when a request may enqueue work: cache hits cost no quota round trips.
        self.take_quota = take_quota
        # Read-only: refuses an over-quota caller before paid work such as embedding a cue (docs/THREATS.md).
        self.peek_quota = peek_quota
        # The semantic tier (docs/ARCHITECTURE.md, Prompt keys) on tier-1 misses; None when SOUL_SEMANTIC_CACHE is off.
        self.semantic = build_semantic(self.settings)
        # Pre-generation (docs/ARCHITECTURE.md, Pre-generation): per-key demand noted in memory, refilled in batches
        # (shared/pregen.py).
        self.pregen = DemandRecorder(backend)
        # Content safety (shared/safety/gate.py): one check on every miss, before quota, key or job.
        self.safety = prompt_gate(self.settings, backend.store, backend.clock)

    # -- requests -------------------------------------------------------------------------------
    def image(
        self, user_id: str, soul_id: str, cue: str, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Outcome:
        """`options` (steps, guidance, size) override the soul's own for this request: another prompt key."""
        style = self.records.cached_style(soul_id)
        if options:
            style = style.model_copy(update={"params": _with_options(style.params, options)})
        return self._request(user_id, style, Kind.IMAGE, cue, self._image_params(style), seed)

    def wan(self, user_id: str, soul_id: str, cue: str, seed: int | None = None) -> Outcome:
        style = self.records.cached_style(soul_id)
        return self._request(user_id, style, Kind.WAN, cue, self._wan_params(), seed)

    def selfie(self, user_id: str, soul_id: str, city_key: str, mood: str, *, video: bool) -> Outcome:
        style = self.records.cached_style(soul_id)
        history_id = f"{user_id}:{soul_id}:{city_key}"
        city, found = overlapped(
            self.backend.store, lambda: self.records.city(city_key), lambda: self.backend.store.get(PLACES, history_id)
        )
        history = found or {}
        landmark = choose_landmark(city, history)
        cue = f"selfie at {landmark.name} in {city.name}, {mood} mood"
        kind = Kind.WAN if video else Kind.SELFIE
        params = self._wan_params() if video else self._image_params(style)
        outcome = self._request(user_id, style, kind, cue, {**params, "landmark": landmark.key})
        now = self.backend.clock.now()  # the history expires a lifetime after its last use
        self.backend.store.set(
            PLACES, history_id, {**history, landmark.key: now, TTL_FIELD: now + PLACES_LIFETIME_SECONDS}
        )
        return Outcome(outcome.served, outcome.pk, landmark.key, outcome.how)

    def video(self, user_id: str, variant_id: str, num_frames: int | None, generate_gif: bool) -> Outcome:
        source = self.records.variant(variant_id)
        if source.kind not in (Kind.IMAGE, Kind.SELFIE) or "png" not in source.artifacts:
            raise InvalidInput(f"variant '{variant_id}' is not an image; only image variants can be animated")
        frames = num_frames or self.settings.svd_num_frames
        params = {"frames": frames, "gif": generate_gif, "fps": self.settings.svd_fps}
        text = f"variant {variant_id}"
        pk, digest = prompt_key(soul_id=source.soul_id, kind=Kind.SVD, text=text, style_version=0, params=params)
        key = PromptKey(
            pk=pk,
            soul_id=source.soul_id,
            kind=Kind.SVD,
            text=text,
            style_version=0,
            params_digest=digest,
            created_at=self.backend.clock.now(),
        )
        spec = dict(
            kind=Kind.SVD,
            soul_id=source.soul_id,
            prompt=source.label,
            num_frames=frames,
            fps=self.settings.svd_fps,
            width=self.settings.svd_image_width,
            height=self.settings.svd_image_height,
            steps=self.settings.svd_steps,
            source_variant_id=variant_id,
            generate_gif=generate_gif,
            label=f"animated: {source.label}",
        )
        return self._serve(user_id, key, spec)

    def wan_direct(self, user_id: str, prompt: str, negative: str, seed: int | None, generate_gif: bool) -> Job:
        now = self.backend.clock.now()
        variant_id = new_id()
        spec = GenerationSpec(
            kind=Kind.WAN,
            soul_id="direct",
            prompt=prompt,
            negative_prompt=negative,
            generate_gif=generate_gif,
            seed=seed if seed is not None else seed_from(variant_id),
            label=prompt,
            **self._wan_size(),
        )
        self.safety.check(user_id, prompt, soul_id="direct", kind=Kind.WAN.value)  # the prompt sent, as sent
        pk, _ = prompt_key(soul_id="direct", kind=Kind.WAN, text=f"direct {variant_id}", style_version=0)
        request: dict[str, object] = {"positive_prompt": prompt, "safety_policy": self.safety.policy}
        job = self._job(user_id, pk, spec, variant_id, request, now)
        self.take_quota(user_id)
        job = singleflight.submit_direct(self.backend.store, job, now)
        self._publish(job)
        return job

    # -- internals ------------------------------------------------------------------------------
    def _image_params(self, style: StyleProfile) -> dict[str, object]:
        return style.params.model_dump()

    def _wan_size(self) -> dict[str, Any]:  # spec fields (GenerationSpec has non-int ones too)
        width, height = (int(p) for p in self.settings.wan_size.split("*"))
        return {"width": width, "height": height, "num_frames": self.settings.wan_duration * 24, "fps": 24}

    def _wan_params(self) -> dict[str, object]:
        s = self.settings
        return {"model": s.wan_model, "size": s.wan_size, "duration": s.wan_duration, "extend": s.wan_prompt_extend}

    def _request(
        self,
        user_id: str,
        style: StyleProfile,
        kind: Kind,
        cue: str,
        params: dict[str, object],
        seed: int | None = None,
    ) -> Outcome:
        text = normalize(cue)
        if not text:
            raise InvalidInput("Write a cue with at least one word, number or emoji.", field="cue")
        # The key is made from the matching form (tier 2 when enabled); the generator gets the cue itself.
        match = similarity.canonical(text) if self.settings.soul_similarity_tier2 else text
        version = style.version
        pk, digest = prompt_key(soul_id=style.soul_id, kind=kind, text=match, style_version=version, params=params)
        key = PromptKey(
            pk=pk,
            soul_id=style.soul_id,
            kind=kind,
            text=match,
            style_version=style.version,
            params_digest=digest,
            created_at=self.backend.clock.now(),
        )
        if kind is Kind.WAN:
            size: dict[str, object] = {**self._wan_size(), "steps": 1}
        else:
            # size, steps, guidance and the approximate options the style opted into (defaults omitted)
            size = style.params.model_dump()
        # The label others are shown is the normalized text, never one user's own wording.
        spec = dict(
            kind=kind,
            soul_id=style.soul_id,
            prompt=style.render(text),
            negative_prompt=style.negative_prompt,
            label=text,
            **size,
        )
        if seed is not None:
            return self._serve_seeded(user_id, key, spec, params, seed)
        return self._serve(user_id, key, spec, render=style.render)

    def _serve_seeded(
        self, user_id: str, key: PromptKey, spec_fields: dict[str, object], params: dict[str, object], seed: int
    ) -> Outcome:
        """Exactly `seed`'s output (shared/seeded.py): its ready variant, seen before or not, else one job per
        key and seed. No semantic join (another key's text is another picture) and no pre-generation note."""
        now, store = self.backend.clock.now(), self.backend.store
        own, admit = seeded.seeded_key(key, params, seed), self._admit(user_id, now)

        def cached() -> Variant | None:
            return seeded.serve(store, user_id=user_id, pk=key.pk, seeded_pk=own.pk, seed=seed, now=now, admit=admit)

        if (hit := cached()) is not None:
            return self._hit(user_id, key, spec_fields, hit)
        spec = GenerationSpec.model_validate({**spec_fields, "seed": seed})
        self._check(user_id, key, spec_fields)
        self.take_quota(user_id)
        request: dict[str, object] = {"text": key.text, "seed": seed, "safety_policy": self.safety.policy}
        candidate = self._job(user_id, own.pk, spec, new_id(), request, now)
        served = self._single_flight(user_id, candidate, own, now, cached=cached)
        if served.created and served.job is not None:
            self._publish(served.job)
        return Outcome(served, own.pk)

    def _single_flight(
        self,
        user_id: str,
        candidate: Job,
        key: PromptKey,
        now: float,
        admit: lifecycle.Admit | None = None,
        cached: Callable[[], Variant | None] | None = None,
    ) -> lifecycle.Served:
        """The key's live job with this user attached, else `candidate` created as its job (shared/singleflight.py)."""
        with tracing.span("api.singleflight", {"soul.pk": key.pk}) as span:
            served = singleflight.serve_or_submit(
                self.backend.store,
                user_id=user_id,
                candidate=candidate,
                key=key,
                now=now,
                lease_seconds=self.settings.soul_lease_seconds,
                max_attempts=self.settings.soul_max_delivery_attempts,
                admit=admit,
                cached=cached,
            )
            span.set_attribute("soul.created", served.created)
        return served

    def _serve(
        self,
        user_id: str,
        key: PromptKey,
        spec_fields: dict[str, object],
        render: Callable[[str], str] | None = None,
    ) -> Outcome:
        """`render` (the style's template) marks a cue the semantic tier may match: a joined key's job is
        generated from that key's own text, never the joiner's."""
        now = self.backend.clock.now()
        asked = key
        # Demand for pre-generation is noted only for a request that passed the quota: a hit (a pre-generated
        # variant served first is charged on the way, shared/first_serve.py) or a miss that was charged. It is
        # noted on the key served, with that key's own spec (after a semantic join: the joined key's).
        store, admit = self.backend.store, self._admit(user_id, now)
        with tracing.span("api.cache_read", {"soul.pk": key.pk}) as span:
            hit = lifecycle.serve_cached(store, user_id=user_id, pk=key.pk, now=now, admit=admit)
            span.set_attribute("soul.hit", hit is not None)
        if hit is not None:
            self.pregen.note(user_id, key, spec_fields, now)
            return self._hit(user_id, key, spec_fields, hit)
        if render is not None and (joined := self._semantic_key(user_id, key, now)).pk != key.pk:
            self._check(user_id, key, spec_fields)  # the joiner's own words too, before anything is served
            key = joined  # a tier-1 miss joins an existing key of the same meaning (shared/keylinks.py)
            spec_fields = {**spec_fields, "prompt": render(key.text), "label": key.text}
            with tracing.span("api.cache_read", {"soul.pk": key.pk, "soul.semantic": True}):
                hit = lifecycle.serve_cached(store, user_id=user_id, pk=key.pk, now=now, admit=admit)
            if hit is not None:
                self.pregen.note(user_id, key, spec_fields, now)
                return self._hit(user_id, key, spec_fields, hit, how="semantic_merge")
        # A miss from here on: the job's spec is built and the quota checked before anything is enqueued.
        variant_id = new_id()
        spec = GenerationSpec.model_validate({**spec_fields, "seed": seed_from(key.pk, variant_id)})
        self._check(user_id, key, spec_fields)
        self.take_quota(user_id)
        self.pregen.note(user_id, key, spec_fields, now)
        request: dict[str, object] = {"text": key.text, "safety_policy": self.safety.policy}
        candidate = self._job(user_id, key.pk, spec, variant_id, request, now)
        served = self._single_flight(user_id, candidate, key, now, admit=admit)
        if served.created and served.job is not None:
            if render is not None and key is asked and self.semantic is not None:
                self.semantic.remember(key)  # only a key with a job becomes a merge target
            self._publish(served.job)
        return Outcome(served, key.pk, how=_how(served, joined=key is not asked))

    def _semantic_key(self, user_id: str, key: PromptKey, now: float) -> PromptKey:
        if self.semantic is None:
            return key
        peek = lambda: self.peek_quota(user_id)  # noqa: E731  (no embedding for an over-quota caller)
        with tracing.span("api.semantic", {"soul.pk": key.pk}) as span:
            joined = keylinks.key_for(self.backend.store, self.semantic, key, now, peek)
            span.set_attribute("soul.joined_pk", joined.pk)
        return joined

    def _check(self, user_id: str, key: PromptKey, spec_fields: dict[str, object]) -> None:
        """Content safety: the cue (for Wan the full prompt sent), and no key an administrator blocked."""
        text = spec_fields["prompt"] if key.kind is Kind.WAN else spec_fields["label"]
        self.safety.check(user_id, str(text), soul_id=key.soul_id, kind=key.kind.value)
        self.safety.refuse_blocked_key(key.pk)

    def _hit(
        self, user_id: str, key: PromptKey, spec_fields: dict[str, object], hit: Variant, how: str = "hit"
    ) -> Outcome:
        """A hit costs no check, unless its variant was made under an older policy (re-checked lazily, cached)."""
        if self.safety.stale(hit.safety_policy):
            text = spec_fields["prompt"] if key.kind is Kind.WAN else spec_fields["label"]
            self.safety.check(user_id, str(text), soul_id=key.soul_id, kind=key.kind.value)
        history.record_cache_hit(self.backend.store, user_id=user_id, variant=hit, now=self.backend.clock.now())
        return Outcome(lifecycle.Served(variant=hit), key.pk, how=how)

    def _admit(self, user_id: str, now: float) -> lifecycle.Admit:
        """A pre-generated variant costs its first viewer one generation of their quota (shared/first_serve.py)."""

        def charge(uid: str) -> None:  # called only for a pre-generated variant's first viewer
            self.take_quota(uid)
            self.metrics.pregen_variant("served")

        return lambda variant: first_serve.admit(self.backend.store, user_id, variant, now, charge)

    def _job(
        self, user_id: str, pk: str, spec: GenerationSpec, variant_id: str, request: dict[str, object], now: float
    ) -> Job:
        return Job(
            job_id=new_id(),
            kind=spec.kind,
            lane=spec.kind.lane,
            pk=pk,
            spec=spec,
            variant_id=variant_id,
            request=request,
            owner=user_id,
            user_ids=[user_id],
            created_at=now,
            updated_at=now,
        )

    def _publish(self, job: Job) -> None:
        from shared.domain.models import JobMessage

        message = JobMessage(job_id=job.job_id, lane=job.lane)
        attributes = {"soul.job_id": job.job_id, "soul.pk": job.pk, "soul.lane": job.lane}
        with tracing.span("api.publish", attributes, kind=tracing.SpanKind.PRODUCER):
            self.backend.queue.publish(job.lane, message.model_dump_json().encode())  # carries the trace
        lifecycle.mark_published(self.backend.store, job.job_id)
        # Starting a worker is the dispatcher's job (Pub/Sub → CloudEvent function), not the request's.
        log.info("job queued", extra={"job_id": job.job_id, "pk": job.pk, "lane": job.lane})

    # -- reads ----------------------------------------------------------------------------------
    def mark_seen(self, user_id: str, variant_id: str) -> Variant:
        variant = self.records.variant(variant_id)
        if not self._served(user_id, variant):  # else marking would make it "served" (animatable): 404
            raise NotFound(f"variant '{variant_id}' not found")
        lifecycle.mark_seen(self.backend.store, user_id=user_id, variant=variant, now=self.backend.clock.now())
        return variant

    def _served(self, user_id: str, variant: Variant) -> bool:
        """Served to the user, by the one rule animation and variant details use (shared/delivery.py)."""
        return delivery.served_to(self.backend.store, user_id=user_id, variant=variant, now=self.backend.clock.now())

    served = _served  # the rule /media applies too

    def variants(self, pk: str, viewer: str | None = None) -> list[Variant]:
        """The key's variants; for a `viewer`, only those served to them, and a key with none answers as an
        unknown key does (no oracle for what others asked). None: all (administrators, dev mode)."""
        variants = self.records.variants_for(pk)
        if viewer is not None:
            now = self.backend.clock.now()
            variants = delivery.served_among(self.backend.store, user_id=viewer, pk=pk, variants=variants, now=now)
            if not variants:
                raise NotFound(f"prompt key '{pk}' not found")
        if not variants and self.backend.store.get(PROMPT_KEYS, pk) is None:
            raise NotFound(f"prompt key '{pk}' not found")
        return variants
