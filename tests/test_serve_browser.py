"""The page in headless Chromium (Debian's, driven by Playwright): generate, edit the result, see both in the
history. `.ci/run` installs the browser, so this runs in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dreamlite.serve.app import create_app

from .serve_helpers import Server, free_port

CHROMIUM = os.environ.get("DREAMLITE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def test_generate_then_edit_in_the_browser(tmp_path):
    from dreamlite.pipeline import DreamLite

    pipe = DreamLite.from_pretrained("shapes-base")
    with Server(create_app(pipe, "shapes-base", tmp_path / "out", preview_every=2), free_port()) as server, \
            playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        page.wait_for_function("document.getElementById('steps').value !== ''")
        assert page.input_value("#steps") == "28" and page.input_value("#guidance") == "3.5"
        page.fill("#steps", "6")
        page.fill("#prompt", "a red circle")
        page.click("#run")
        page.wait_for_selector("#results img.result", timeout=120_000)
        assert "seed" in page.text_content("#progress-text")
        assert page.input_value("#seed") != ""  # the seed used is shown
        page.click("#history .card .edit-this")  # fetches the PNG, then sets it as the source: wait for that
        page.wait_for_function("document.getElementById('run').textContent === 'Edit'", timeout=30_000)
        page.fill("#prompt", "make the circle blue")
        page.click("#run")
        page.wait_for_function("document.querySelectorAll('#history .card').length === 2", timeout=120_000)
        cards = page.query_selector_all("#history .card")
        assert [c.get_attribute("data-task") for c in cards] == ["edit", "generate"]
        assert "edit of #1" in cards[0].text_content()
        assert page.is_visible("#compare")  # before/after for the edit
        page.wait_for_function("[...document.querySelectorAll('#history img')].every(i => i.complete && "
                               "i.naturalWidth > 0)")
        for width in (1280, 390):  # a laptop and a phone-width screen
            page.set_viewport_size({"width": width, "height": 900})
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a {width}px screen"
            shot = tmp_path / f"serve-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("DREAMLITE_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["DREAMLITE_SCREENSHOT_DIR"]) / shot.name)
        browser.close()
