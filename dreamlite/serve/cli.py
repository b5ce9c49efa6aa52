"""`dreamlite serve`: start the web page and HTTP API (see app.py)."""

from __future__ import annotations

import os
import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="web app and HTTP API for generating and editing")
    p.add_argument("--model", default="shapes-base",  # the README's measured server numbers are for it
                   help="pipeline folder, short name or hub id (default: shapes-base)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--out", default="dreamlite-serve", help="folder for the result PNGs (default ./dreamlite-serve)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--max-upload-pixels", type=int, default=2048 * 2048,
                   help="larger uploads are refused with 413 (default 2048x2048, so 4096x4096 is refused)")
    p.add_argument("--preview-every", type=int, default=4, help="a preview image every N steps")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    import uvicorn

    from ..cli import load_model
    from .app import create_app
    from .requests import Limits

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the server never reaches out
    pipe = load_model(args)
    app = create_app(pipe, args.model, args.out, Limits(max_upload_pixels=args.max_upload_pixels), args.preview_every)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    print(f"dreamlite serve: http://{args.host}:{args.port}/ (model {args.model}, results in {args.out})", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        app.state.worker.stop()
    return 0
