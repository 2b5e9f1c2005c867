"""The playground at `/` driven by Debian's headless chromium (Playwright), against `refvid serve`.

Skipped only when /usr/bin/chromium or the playwright package is missing. Leaves a screenshot in
artifacts/ at the repository root.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import media_factory as mf
from tests.support.servers import RunningServer, serve_refvid

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

DROP_JS = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, {type}));
  const zone = document.getElementById("dropzone");
  for (const kind of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: data}));
  }
}"""
VIDEO_READY_JS = """() => {
  const v = document.getElementById("result-video");
  return !v.hidden && v.readyState >= 2 && Number.isFinite(v.duration);
}"""
UNLABELLED_JS = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
  .map((e) => e.id || e.outerHTML)"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    yield from serve_refvid(tmp_path_factory.mktemp("web-live"))


class Tab:
    """A Playwright page plus the JavaScript errors it logged."""

    def __init__(self, page: Any):
        self.page, self.errors = page, list[str]()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" and "Failed to load resource" not in msg.text else None)


@pytest.fixture
def tab(live: RunningServer) -> Iterator[Tab]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        yield Tab(context.new_page())
        browser.close()


def test_playground_generates_and_plays(live: RunningServer, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    image = mf.make_image(tmp_path / "hero.png", 640, 480, seed=4)
    audio = mf.make_wav(tmp_path / "beat.wav", seconds=3.0)
    page.goto(live.url + "/")
    assert page.title() == "refvid playground"
    assert page.evaluate(UNLABELLED_JS) == []
    page.get_by_label("API key", exact=True).fill(live.key)
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("() => document.querySelectorAll('#model option').length >= 1")

    page.set_input_files("#ref-files", str(image))
    page.evaluate(DROP_JS, ["beat.wav", "audio/wav", base64.b64encode(audio.read_bytes()).decode()])
    page.wait_for_function("() => document.querySelectorAll('#ref-list li[data-status=ready]').length === 2",
                           timeout=20_000)
    page.get_by_role("button", name="Insert @Image1 (hero.png) into the prompt").click()
    page.get_by_label("Prompt", exact=True).press_sequentially("dances to ")
    page.get_by_role("button", name="Insert @Audio1 (beat.wav) into the prompt").click()
    assert page.get_by_label("Prompt", exact=True).input_value() == "@Image1 dances to @Audio1 "
    page.get_by_label("Resolution", exact=True).select_option("480p")
    page.get_by_label("Aspect ratio", exact=True).select_option("16:9")
    page.get_by_label("Duration", exact=True).select_option("4")
    page.get_by_label("Seed", exact=True).fill("5")
    page.get_by_role("button", name="Generate").click()

    page.wait_for_selector("#current:not([hidden])")
    page.wait_for_function(VIDEO_READY_JS, timeout=90_000)
    video = page.evaluate("""() => { const v = document.getElementById("result-video");
        return {readyState: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight,
                src: v.currentSrc}; }""")
    assert video["readyState"] >= 2 and abs(video["duration"] - 4.0) <= 0.1, video
    assert (video["width"], video["height"]) == (864, 496), video
    assert video["src"].startswith(live.url + "/v1/results/") and "sig=" in video["src"]
    assert page.locator("#current-status").inner_text() == "Status: completed"
    assert page.locator("#current-percent").inner_text() == "100%"
    assert page.locator("#current-made").inner_text().startswith("Made by compositor: a composite")
    page.get_by_label("Model", exact=True).select_option("seedance-2.0-text-to-video")
    assert page.locator("#model-makes").inner_text().startswith("Placeholder: a placeholder title card")
    last_duration = "s => s.options[s.options.length - 1].value"  # the model's max_duration, from GET /v1/models
    assert page.eval_on_selector("#duration", last_duration) == "15"
    page.get_by_label("Model", exact=True).select_option("seedance-2.5-reference-to-video")
    assert page.eval_on_selector("#duration", last_duration) == "30"
    task_id = page.locator("#current-id").inner_text()
    item = page.locator(f'#history li[data-task-id="{task_id}"]')
    item.locator(".badge.completed").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "horizontal scroll on a phone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)

    item.get_by_role("button", name=f"Delete {task_id}").click()
    item.wait_for(state="detached")
    assert tab.errors == []


def test_playground_reports_errors_and_cancels(live: RunningServer, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    image = mf.make_image(tmp_path / "wide.png", 800, 450, seed=6)
    page.goto(live.url + "/")
    page.get_by_label("API key", exact=True).fill(live.key)
    page.get_by_role("button", name="Save").click()
    page.set_input_files("#ref-files", str(image))
    page.wait_for_selector("#ref-list li[data-status=ready]")
    page.get_by_label("Prompt", exact=True).fill("@Image3 flies")
    page.get_by_role("button", name="Generate").click()
    error = page.locator("#form-error")
    error.filter(has_text="invalid_reference_mention").wait_for()
    assert page.get_by_label("Prompt", exact=True).get_attribute("aria-invalid") == "true"

    page.get_by_label("Prompt", exact=True).fill("@Image1 flies slowly")
    page.get_by_label("Resolution", exact=True).select_option("720p")
    page.get_by_label("Duration", exact=True).select_option("15")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#current:not([hidden])")
    page.get_by_role("button", name="Cancel task", exact=True).click()
    page.locator("#current-status").filter(has_text="cancelled").wait_for(timeout=15_000)
    task_id = page.locator("#current-id").inner_text()
    page.locator(f'#history li[data-task-id="{task_id}"] .badge.cancelled').wait_for(timeout=10_000)

    page.set_input_files("#ref-files", str(mf.make_image(tmp_path / "tiny.png", 200, 200, seed=7)))
    page.wait_for_selector("#ref-list li:nth-child(2)[data-status=ready]")
    page.get_by_label("Prompt", exact=True).fill("@Image2 waves")
    page.get_by_label("Duration", exact=True).select_option("4")
    page.get_by_role("button", name="Generate").click()
    page.locator("#current-status").filter(has_text="failed").wait_for(timeout=30_000)
    failed = page.locator(f'#history li[data-task-id="{page.locator("#current-id").inner_text()}"]')
    failed.locator(".badge.failed").wait_for(timeout=10_000)
    message = failed.locator(".item-error").inner_text()  # the message, not only the code
    assert "image_urls[1]" in message and "below 300 px" in message, message
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "horizontal scroll on a phone"
    assert tab.errors == []
