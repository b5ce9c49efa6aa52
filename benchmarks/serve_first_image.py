"""Time to first image of `dreamlite serve`: from starting the process to the first PNG of a default generate
request (the model's default steps and guidance), over HTTP on localhost.

    python benchmarks/serve_first_image.py [--model shapes-base] [--port 7861]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes-base")
    parser.add_argument("--port", type=int, default=7861)
    parser.add_argument("--out", default="/tmp/dreamlite-serve-bench")
    args = parser.parse_args()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dreamlite.cli", "serve", "--model", args.model, "--port",
                             str(args.port), "--out", args.out], stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as client:
            while True:
                try:
                    client.get("/api/model")
                    break
                except httpx.TransportError:
                    if proc.poll() is not None:
                        sys.exit("the server exited")
                    time.sleep(0.1)
            ready = time.perf_counter()
            job = client.post("/api/generate", json={"prompt": "two red circles", "seed": 0}).json()
            while (state := client.get(f"/api/jobs/{job['id']}").json())["state"] not in ("done", "failed"):
                time.sleep(0.02)
            png = client.get(state["images"][0]).content
            first = time.perf_counter()
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps({"model": args.model, "steps": state["total"], "server_ready_s": round(ready - start, 2),
                      "request_to_png_s": round(first - ready, 2), "start_to_first_png_s": round(first - start, 2),
                      "png_bytes": len(png)}))


if __name__ == "__main__":
    main()
