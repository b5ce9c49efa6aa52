"""Per-component timers attached to a pipeline (ours or diffusers') without changing what it computes."""

from __future__ import annotations

import time
from collections import defaultdict

COMPONENTS = ("prompt_encoder", "vae_encode", "unet", "vae_decode")


class Timers:
    def __init__(self):
        self.seconds, self.calls = defaultdict(float), defaultdict(int)

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed

    def reset(self):
        self.seconds.clear()
        self.calls.clear()


class _Timed:
    """Stands in for a component, timing the named methods (or the call itself) and passing the rest through."""

    def __init__(self, inner, timers: Timers, calls: dict[str, str]):
        self._inner = inner
        for method, name in calls.items():
            target = inner if method == "__call__" else getattr(inner, method)
            setattr(self, "_call" if method == "__call__" else method, timers.wrap(name, target))

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


def attach_ours(pipe, timers: Timers) -> None:
    pipe.prompt_encoder = _Timed(pipe.prompt_encoder, timers, {"encode": "prompt_encoder"})
    pipe.vae = _Timed(pipe.vae, timers, {"encode": "vae_encode", "decode": "vae_decode"})
    pipe.unet = _Timed(pipe.unet, timers, {"__call__": "unet"})


def attach_diffusers(pipe, timers: Timers) -> None:
    """diffusers calls its modules; instance attributes shadow their methods, so the modules stay in place."""
    pipe.text_encoder.forward = timers.wrap("prompt_encoder", pipe.text_encoder.forward)
    pipe.vae.encode = timers.wrap("vae_encode", pipe.vae.encode)
    pipe.vae.decode = timers.wrap("vae_decode", pipe.vae.decode)
    pipe.unet.forward = timers.wrap("unet", pipe.unet.forward)
