"""The Wan text-to-video generator: a remote DashScope task per request, resumable across restarts.

Per request: claim an account slot, take a submit permit, submit, save the task id on the job
(`hooks.save_remote_task_id`) *before* polling, poll at the official SDK's cadence (1 s, doubling
every 3 polls, capped at 5 s) checking the job's cancel flag between polls, then copy the MP4 at once
(the provider's URL expires) through the guarded downloader. A job that already holds a task id
resumes polling it and never submits again. The one exception: a resumed id the provider reports as
UNKNOWN (expired or never known, so it cannot still be running) is submitted afresh, once.
Progress is reported in honest phases (submitted, running, downloading, done), not a fake percentage.
The worker makes the GIF from the returned MP4; requests run one after another, so the wan lane
should use batch size 1 and get parallelism from several workers, bounded by the account slots.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from ssl import SSLContext
from typing import Any

import httpx
from pydantic import SecretStr

from gpu_jobs.generators.base import GenRequest, JobHooks, Output
from gpu_jobs.wan_client import DashScopeClient, RetryPolicy, TaskOutput, permanent_error
from gpu_jobs.wan_download import Resolver, SafeDownloader, system_resolver
from gpu_jobs.wan_limits import Slot, WanAccountLimits
from shared.clock import SystemClock
from shared.config import Settings
from shared.domain.models import GenerationSpec
from shared.errors import GenerationFailed, JobCanceled, NotConfigured, RateLimited, SoulError, Unavailable
from shared.logging import get_logger
from shared.ports import Clock, DocumentStore

log = get_logger(__name__)

PHASES = 4  # progress: 1 submitted/pending, 2 running, 3 downloading, 4 done
# wan2.5-t2v output is 24 fps (docs/ARCHITECTURE.md, Generators and media); the worker re-probes when it decodes
WAN_FPS = 24
UNKNOWN_POLLS = 3  # consecutive UNKNOWN answers before believing them (not a lookup blip)
NOT_CONFIGURED = "Wan text-to-video is not configured: set DASHSCOPE_API_KEY"


def sdk_intervals(first_s: float = 1.0, cap_s: float = 5.0, every: int = 3) -> Iterator[float]:
    """The dashscope SDK's wait between polls: `first_s`, doubled every `every` polls, capped."""
    wait, step = first_s, 0
    while True:
        step += 1
        if step % every == 0:
            wait = min(wait * 2, cap_s)
        yield wait


class WanGenerator:
    name = "wan"

    def __init__(
        self,
        *,
        store: DocumentStore,
        api_key: SecretStr | None,
        base_url: str = "https://dashscope.aliyuncs.com/api/v1",
        model: str = "wan2.5-t2v-preview",
        size: str = "832*480",
        duration: int = 5,
        prompt_extend: bool = True,
        watermark: bool = False,
        allowed_hosts: str = "aliyuncs.com",
        max_concurrent: int = 2,
        submits_per_second: int = 2,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        download_verify: SSLContext | bool = True,
        resolver: Resolver = system_resolver,
        retry: RetryPolicy | None = None,
        poll_first_s: float = 1.0,
        poll_cap_s: float = 5.0,
        max_poll_s: float = 1800.0,
        slot_wait_s: float = 2.0,
        max_slot_wait_s: float = 600.0,
        slot_ttl_s: float = 900.0,
        max_video_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._key = api_key
        self._base_url = base_url
        self._params: dict[str, Any] = {
            "size": size, "duration": duration, "prompt_extend": prompt_extend, "watermark": watermark,
        }  # fmt: skip
        self._model = model
        self._clock = clock or SystemClock()
        self._limits = WanAccountLimits(
            store, self._clock, max_concurrent=max_concurrent, submits_per_second=submits_per_second,
            slot_ttl_s=slot_ttl_s,
        )  # fmt: skip
        self._downloader = SafeDownloader(
            allowed_hosts, max_bytes=max_video_bytes, resolver=resolver, verify=download_verify
        )
        self._transport, self._retry = transport, retry
        self._poll = (poll_first_s, poll_cap_s, max_poll_s)
        self._slot_wait = (slot_wait_s, max_slot_wait_s)
        self._client: DashScopeClient | None = None

    @property
    def configured(self) -> bool:
        return self._key is not None and bool(self._key.get_secret_value().strip())

    def setup(self) -> None:
        """Nothing heavy to load; without a key this stays inert and `generate` raises NotConfigured."""
        if self.configured:
            self._connect()

    def _connect(self) -> DashScopeClient:
        """The API client, built once (no network until the first call)."""
        if self._client is not None:
            return self._client
        if self._key is None or not self.configured:
            raise NotConfigured(NOT_CONFIGURED)  # never a fake success
        url = httpx.URL(self._base_url)
        if url.scheme != "https" and url.host not in ("127.0.0.1", "localhost", "::1"):
            # The key travels in a header: never in clear text off this machine.
            raise NotConfigured("WAN_API_BASE_URL must be https (plain http only for a loopback fake)")
        self._client = DashScopeClient(
            self._key, self._base_url, retry=self._retry, sleep=self._clock.sleep, transport=self._transport
        )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._downloader.close()

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        self._connect()
        outputs: list[Output] = []
        canceled = 0
        for request in requests:
            try:
                outputs.append(self._one(request))
            except JobCanceled:
                if len(requests) == 1:
                    raise
                canceled += 1
                outputs.append(Output(generator=self.name))  # the worker drops canceled outputs
        if canceled == len(requests):
            raise JobCanceled("every request of the batch was canceled")
        return outputs

    @property
    def client(self) -> DashScopeClient:
        return self._connect()

    def _one(self, request: GenRequest) -> Output:
        hooks = request.hooks
        if hooks.canceled():
            raise JobCanceled("canceled before the Wan task started")
        slot = self._claim_slot(hooks)
        try:
            task = self._run_task(request, slot)
        finally:
            if slot is not None:
                self._limits.release(slot)
        hooks.progress(3, PHASES)
        video = self._download(task)
        hooks.progress(PHASES, PHASES)
        return Output(video=video, fps=WAN_FPS, generator=self.name, frames=[])

    def _claim_slot(self, hooks: JobHooks) -> Slot | None:
        """An account slot; None only when resuming (the remote task runs whether we count it or not)."""
        token, resume = uuid.uuid4().hex, hooks.remote_task_id
        wait_s, max_wait_s = self._slot_wait
        deadline = self._clock.now() + max_wait_s
        while True:
            slot = self._limits.try_claim(token, resume)
            if slot is not None or resume is not None:
                return slot
            if hooks.canceled():
                raise JobCanceled("canceled while waiting for a Wan task slot")
            if self._clock.now() >= deadline:
                raise RateLimited("every Wan task slot of the account is busy", retry_after=wait_s)
            self._clock.sleep(wait_s)

    def _run_task(self, request: GenRequest, slot: Slot | None) -> TaskOutput:
        task_id = request.hooks.remote_task_id
        resumed = task_id is not None
        if task_id is None:
            task_id = self._submit(request, slot)
        else:
            log.info("resuming Wan task %s", task_id)
        task = self._poll_until_done(request.hooks, task_id, slot)
        if task.task_status == "UNKNOWN" and resumed:
            # Unknown to the provider = expired (24 h) or never created: nothing can still run it.
            log.warning("Wan task %s is unknown to the provider (expired); submitting afresh", task_id)
            task = self._poll_until_done(request.hooks, self._submit(request, slot), slot)
        return _succeeded(task)

    def _body(self, spec: GenerationSpec) -> dict[str, Any]:
        return {
            "model": self._model,
            "input": {"prompt": spec.prompt, "negative_prompt": spec.negative_prompt},
            "parameters": {**self._params, "seed": spec.seed},
        }

    def _submit(self, request: GenRequest, slot: Slot | None) -> str:
        self._await_permit()
        task_id = self.client.submit(self._body(request.spec))
        try:
            request.hooks.save_remote_task_id(task_id)
        except BaseException:
            # Unsaved, a retry would start a second paid task: stop this one while we still can.
            self._cancel_quietly(task_id)
            raise
        if slot is not None:
            self._limits.bind(slot, task_id)
        request.hooks.progress(1, PHASES)
        log.info("submitted Wan task %s", task_id)
        return task_id

    def _await_permit(self) -> None:
        deadline = self._clock.now() + self._slot_wait[1]
        while not self._limits.try_submit_permit():
            if self._clock.now() >= deadline:
                raise RateLimited("the Wan submit rate of the account is used up", retry_after=1.0)
            self._clock.sleep(self._limits.seconds_to_next_window())

    def _poll_until_done(self, hooks: JobHooks, task_id: str, slot: Slot | None) -> TaskOutput:
        """Poll to a terminal status (or UNKNOWN seen UNKNOWN_POLLS times in a row)."""
        first_s, cap_s, max_poll_s = self._poll
        intervals, unknown = sdk_intervals(first_s, cap_s), 0
        deadline = self._clock.now() + max_poll_s
        while True:
            task = self.client.get(task_id)
            unknown = unknown + 1 if task.task_status == "UNKNOWN" else 0
            if task.task_status in ("SUCCEEDED", "FAILED", "CANCELED") or unknown >= UNKNOWN_POLLS:
                return task
            hooks.progress(2 if task.task_status == "RUNNING" else 1, PHASES)
            if hooks.canceled():
                self._cancel_remote(task)
                raise JobCanceled(f"canceled while Wan task {task_id} was {task.task_status}")
            if self._clock.now() >= deadline:
                # The id is saved: the requeued job resumes this task, it does not start another.
                raise Unavailable(f"Wan task {task_id} still {task.task_status} after {max_poll_s:.0f}s")
            if slot is not None:
                self._limits.renew(slot)
            self._clock.sleep(next(intervals))

    def cancel_remote_task(self, task_id: str) -> None:
        """Best effort, for a job canceled while no worker held it (released between attempts): the
        provider still runs its task, so cancel it if it is PENDING (the only state it cancels)."""
        try:
            self._cancel_remote(self.client.get(task_id))
        except SoulError as exc:
            log.warning("could not check Wan task %s for cancel: %s", task_id, exc.code)

    def _cancel_remote(self, task: TaskOutput) -> None:
        if task.task_status == "PENDING":
            self._cancel_quietly(task.task_id)
        else:
            log.warning("Wan task %s is %s: the provider cancels PENDING tasks only", task.task_id, task.task_status)

    def _cancel_quietly(self, task_id: str) -> None:
        try:
            self.client.cancel(task_id)
        except SoulError as exc:  # best effort: the job is being given up either way
            log.warning("could not cancel Wan task %s: %s", task_id, exc.code)

    def _download(self, task: TaskOutput) -> bytes:
        assert task.video_url is not None  # _succeeded checked it
        video = self._downloader.fetch(task.video_url)
        if video[4:8] != b"ftyp":
            raise GenerationFailed(f"Wan task {task.task_id} returned a file that is not an MP4")
        return video


def _succeeded(task: TaskOutput) -> TaskOutput:
    """The task if it succeeded with a video; otherwise the error its status and code call for."""
    if task.task_status == "SUCCEEDED" and task.video_url:
        return task
    if task.task_status == "SUCCEEDED":
        raise GenerationFailed(f"Wan task {task.task_id} succeeded without a video_url")
    if task.task_status == "FAILED":
        raise permanent_error(task.code or "", f"task {task.task_id} {task.code}: {task.message}")
    if task.task_status == "CANCELED":
        raise GenerationFailed(f"Wan task {task.task_id} was canceled at the provider")
    raise GenerationFailed(f"Wan task {task.task_id} is unknown to the provider (expired or never created)")


def build_from_settings(settings: Settings, store: DocumentStore, clock: Clock | None = None) -> WanGenerator:
    """The worker's Wan generator: settings from the environment, limits on the backend's store."""
    return WanGenerator(
        store=store, api_key=settings.dashscope_api_key, base_url=settings.wan_api_base_url,
        model=settings.wan_model, size=settings.wan_size, duration=settings.wan_duration,
        prompt_extend=settings.wan_prompt_extend, watermark=settings.wan_watermark,
        allowed_hosts=settings.wan_allowed_hosts, max_concurrent=settings.wan_max_concurrent_tasks, clock=clock,
    )  # fmt: skip
