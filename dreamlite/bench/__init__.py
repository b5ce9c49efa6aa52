"""`dreamlite bench`: per-component time and peak memory of each runtime, beside diffusers, in one run."""
