"""Step caching (DeepCache-style) for diffusers' UNets, without forking diffusers.

Between neighbouring denoising steps the UNet's deep, low-resolution features change little; its
shallow, full-resolution path carries the detail that does. So every `interval` steps the whole UNet
runs and the output of the up-block that feeds the shallowest up-block is kept; on the steps in
between only the shallow path runs — `conv_in`, the first down-block, the last up-block, `conv_out` —
and the kept deep features stand in for everything below (DeepCache, Ma et al. 2023, caching at the
shallowest skip branch). It is approximate (the benchmark prints its PSNR/SSIM against the exact
path) and opt-in per style (`step_cache_interval`, docs/GPU.md "Per-style options").

It works on any UNet with diffusers' `down_blocks` / `mid_block` / `up_blocks` loop
(`UNet2DConditionModel` for SDXL, `UNetSpatioTemporalConditionModel` for SVD): the deep blocks' forward
is wrapped, once, in a gate that either runs the block or, on a cached step, returns placeholders of
the right arity (their outputs feed only other skipped blocks) and, for the block feeding the
shallowest up-block, the kept features. A step is one UNet call; a call whose
batch differs from the kept features' (the CFG-truncated half batch) runs in full.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch

Forward = Callable[..., Any]


def _hidden(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]


class StepCache:
    """Reuse of a UNet's deep features every `interval` steps; `use(interval)` per pipeline call.

    Compile-safe: the gates on the deep blocks are installed once, here, so a compiled UNet sees the
    same functions on every call (new closures per call would fail dynamo's guards and recompile), and
    they read one bool (`_skip`): each warmed shape gets two graphs, full and skipped. The step counter
    lives in a pre-hook on the module the pipeline calls (the compiled wrapper's hooks run eagerly,
    outside the graph); on the original module it would be traced and its int guards would recompile
    at every step (docs/GPU.md, "Compiled UNet").
    """

    def __init__(self, unet: Any) -> None:
        """`unet`: a diffusers UNet (untyped: down_blocks, mid_block, up_blocks), compiled or not."""
        self.unet: Any = getattr(unet, "_orig_mod", unet)  # the eager module under torch.compile
        if len(self.unet.down_blocks) < 2 or len(self.unet.up_blocks) < 2:
            raise ValueError("step caching needs a UNet with at least two down- and up-blocks")
        self.interval = 1
        self.calls = 0  # UNet calls in this pipeline call
        self.full_calls = 0  # ... of which ran the deep blocks
        self._skip = False
        self._deep: torch.Tensor | None = None
        self._batch = -1
        self._install(self.unet)
        self._outer: Any = None
        self._hook: Any = None
        self.attach(unet)

    @classmethod
    def for_unet(cls, unet: Any) -> StepCache:
        """The UNet's one step cache (its gates are installed once), counting on the module the pipeline
        now calls: a pipeline whose UNet was compiled after an eager run moves the counter to the wrapper."""
        eager = getattr(unet, "_orig_mod", unet)
        cache: StepCache | None = eager.__dict__.get("_soul_step_cache")
        if cache is None:
            cache = cls(unet)
            eager.__dict__["_soul_step_cache"] = cache
        cache.attach(unet)
        return cache

    def attach(self, unet: Any) -> None:
        """Count steps on `unet`, the outer module (a compiled wrapper's hooks run eagerly, outside the graph;
        a hook left on the wrapped module would be traced)."""
        if unet is self._outer:
            return
        if self._hook is not None:
            self._hook.remove()
        self._outer, self._hook = unet, unet.register_forward_pre_hook(self._before_step)

    def _install(self, unet: Any) -> None:
        for block in unet.down_blocks[1:]:
            block.forward = self._gated(block.forward, self._down_stub(block))
        for block in [unet.mid_block, *unet.up_blocks[:-2]]:
            if block is not None:
                block.forward = self._gated(block.forward, _hidden_stub)
        feeder = unet.up_blocks[-2]
        feeder.forward = self._gated(feeder.forward, self._cached_stub, keep=True)

    @contextlib.contextmanager
    def use(self, interval: int) -> Iterator[StepCache]:
        """Cache every `interval` steps inside the block (1: every step runs in full, the exact path)."""
        if interval < 1:
            raise ValueError(f"step cache interval must be >= 1, not {interval}")
        self.interval, self.calls, self.full_calls, self._deep, self._skip = interval, 0, 0, None, False
        try:
            yield self
        finally:
            self.interval, self._deep, self._skip = 1, None, False

    def _before_step(self, _unet: Any, args: tuple[Any, ...]) -> None:
        # diffusers' pipelines pass the latents positionally: `unet(latent_model_input, t, ...)`
        if self.interval == 1:
            self._skip = False
            return
        batch = args[0].shape[0] if args and isinstance(args[0], torch.Tensor) else -1
        on_schedule = self.calls % self.interval != 0
        self._skip = on_schedule and self._deep is not None and batch == self._batch
        if not self._skip:
            self._batch = batch  # of the UNet's input (SVD folds frames into the blocks' batch)
        self.calls += 1
        self.full_calls += not self._skip

    def _gated(self, forward: Forward, stub: Forward, keep: bool = False) -> Forward:
        def run(*args: Any, **kwargs: Any) -> Any:
            if self._skip:
                return stub(*args, **kwargs)
            out = forward(*args, **kwargs)
            if keep:
                self._deep = out  # kept on every full run (one tensor), so the exact path has no extra graph
            return out

        return run

    @staticmethod
    def _down_stub(block: Any) -> Forward:
        # As many residuals as the block yields (resnets + downsampler), so the UNet's slicing of the
        # residual stack still hands the shallow up-block its own, real residuals.
        count = len(block.resnets) + len(getattr(block, "downsamplers", None) or ())

        def stub(*args: Any, **kwargs: Any) -> Any:
            hidden = _hidden(args, kwargs)
            return hidden, (hidden,) * count

        return stub

    def _cached_stub(self, *_args: Any, **_kwargs: Any) -> Any:
        return self._deep


def _hidden_stub(*args: Any, **kwargs: Any) -> Any:
    return _hidden(args, kwargs)


def clean_copy(unet: Any) -> Any:
    """A deep copy of an eager UNet without its step cache (for an FP8 twin). The cache is set aside while
    copying (it may reach a compiled wrapper, which is not to be copied), and what the copy inherited is
    undone: the gates would call the original's blocks (closures are not deep-copied) and a counter hook
    would count for the original's cache."""
    cache = unet.__dict__.pop("_soul_step_cache", None)
    try:
        copied = copy.deepcopy(unet)
    finally:
        if cache is not None:
            unet.__dict__["_soul_step_cache"] = cache
    for module in copied.modules():
        module.__dict__.pop("forward", None)  # the class's forward again
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(getattr(hook, "__self__", None), StepCache):
                del module._forward_pre_hooks[key]
    return copied
