"""The built site, read in a real browser: nothing cut off, nothing fetched from outside.

The site is built (``mkdocs build --strict``) and served locally under the path of
``site_url`` (as GitHub Pages serves a project site, a missing page answered by
``404.html``). Headless Chromium loads every page at 1280 px (a laptop) and 390 px
(a phone) and checks, inside the content area (``.md-content``):

* no element is cut off: an element that clips its content (``overflow-x`` other than
  ``visible``) shows all of it (``scrollWidth <= clientWidth``), and no element sticks
  out of the content area, unless it sits inside a container that scrolls by design;
* scrolling by design means, at 390 px only, a block of source code (``pre > code``;
  not an ``output`` block nor a signature: those wrap), a table printed by a program
  (```` ```{.output .wide} ````) and a wide table inside Material's scroll wrapper.
  At 1280 px nothing scrolls;
* no code span in a table cell is broken in the middle of a word;
* the page itself never scrolls sideways;
* every request succeeds and goes to the local server (fonts included), and the
  console shows no error.

It skips, with the reason, where mkdocs, selenium, Chromium or chromedriver is
missing: ``pip install selenium`` and ``apt-get install chromium chromium-driver``
(or set ``POLYMOD_CHROME`` and ``POLYMOD_CHROMEDRIVER``). Set
``POLYMOD_DOCS_SCREENSHOTS=DIR`` to also save a full-page PNG of every page at both
widths (to look at them: the test cannot judge whether a page reads well).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = {"laptop": 1280, "phone": 390}
HEIGHT = 900


def _find(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    return next((path for path in map(shutil.which, names) if path), None)


CHROME = _find("POLYMOD_CHROME", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = _find("POLYMOD_CHROMEDRIVER", "chromedriver")
_MISSING = [why for missing, why in [
    (importlib.util.find_spec("mkdocs") is None, "mkdocs (pip install 'polymod[docs]')"),
    (importlib.util.find_spec("selenium") is None, "selenium (pip install selenium)"),
    (CHROME is None, "Chromium (apt-get install chromium, or set POLYMOD_CHROME)"),
    (CHROMEDRIVER is None,
     "chromedriver (apt-get install chromium-driver, or set POLYMOD_CHROMEDRIVER)"),
] if missing]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason="needs " + ", ".join(_MISSING))


def _site_path() -> str:
    """The path part of ``site_url`` in mkdocs.yml (``/polymod/``), served as-is."""
    for line in (ROOT / "mkdocs.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith("site_url:"):
            path = urlsplit(line.split(":", 1)[1].strip().strip("'\"")).path
            return "/" + path.strip("/") + "/" if path.strip("/") else "/"
    return "/"


class _PagesHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site quietly and answers a missing file with 404.html, as GitHub Pages does."""

    not_found_page: Path

    def log_message(self, *args: object) -> None:
        pass

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        if code != 404 or not self.not_found_page.exists():
            super().send_error(code, message, explain)
            return
        body = self.not_found_page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[str]]]:
    """(base URL, page paths relative to it): the built site, served on localhost."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site_path = _site_path()
        site_dir = root / site_path.strip("/")
        env = dict(os.environ, PYTHONWARNINGS="ignore", NO_MKDOCS_2_WARNING="1")
        result = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
            cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        pages = sorted(str(p.relative_to(site_dir).parent).replace(".", "") + "/"
                       for p in site_dir.rglob("index.html"))
        pages = [p.lstrip("/") for p in pages] + ["no/such/page/"]  # the last: 404.html
        handler = functools.partial(type("Handler", (_PagesHandler,),
                                         {"not_found_page": site_dir / "404.html"}),
                                    directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}{site_path}", pages
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROME
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run",
                     f"--user-data-dir={profile}", f"--window-size={WIDTHS['laptop']},{HEIGHT}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


# Runs in the page; returns one line per problem. Hidden elements (closed tabs) are skipped.
_LAYOUT_PROBLEMS = """
const narrow = document.documentElement.clientWidth < 600;
const problems = [];
const viewport = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth > viewport + 1)
  problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px wide`);
const content = document.querySelector('.md-content');
if (!content) return problems;
const area = content.getBoundingClientRect();
const where = el => {
  let heading = null;
  for (const h of content.querySelectorAll('h1[id], h2[id], h3[id], h4[id], [id].doc-heading'))
    if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) heading = h;
  const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
  const cls = el.className && typeof el.className === 'string'
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
  return `<${el.tagName.toLowerCase()}${cls}> under #${heading ? heading.id : '(top)'}: "${text}"`;
};
const scrollsByDesign = el => narrow && (
  el.matches('.md-typeset__scrollwrap')
  || (el.matches('pre > code') && !el.closest('.language-output:not(.wide), .doc-signature')));
const scrolling = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
const insideScroller = el => {
  for (let up = el.parentElement; up && up !== content; up = up.parentElement)
    if (scrolling(up)) return true;
  return false;
};
// Inside a code block only the block itself counts: its token spans scroll or wrap with it.
for (const el of content.querySelectorAll('*:not(pre *), pre > code')) {
  if (el.getClientRects().length === 0) continue;
  const clips = getComputedStyle(el).overflowX !== 'visible';
  if (clips && el.scrollWidth > el.clientWidth + 1 && !scrollsByDesign(el))
    problems.push(`cut off (${el.scrollWidth} px in ${el.clientWidth} px): ${where(el)}`);
  const box = el.getBoundingClientRect();
  if (box.width > 0 && box.right > area.right + 1 && !insideScroller(el))
    problems.push(`sticks out by ${Math.round(box.right - area.right)} px: ${where(el)}`);
}
for (const code of content.querySelectorAll('td code, th code'))
  if (!/\\s/.test(code.textContent) && code.getClientRects().length > 1)
    problems.push(`broken mid-word: ${where(code)}`);
return problems;
"""


def _network_problems(driver: object, base: str, page_url: str) -> list[str]:
    """Failed or outside requests, from Chrome's performance log since the last call."""
    problems, urls = [], {}
    local = urlsplit(base).netloc
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != local:
                problems.append(f"fetched from outside: {url}")
        elif method == "Network.responseReceived":
            status, url = params["response"]["status"], params["response"]["url"]
            expected_404 = url == page_url and page_url.endswith("no/such/page/")
            if status >= 400 and not expected_404:
                problems.append(f"HTTP {status}: {url}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"failed ({params.get('errorText')}): "
                            f"{urls.get(params['requestId'], params['requestId'])}")
    return problems


def _console_problems(driver: object, page_url: str) -> list[str]:
    expected = f"{page_url} - Failed to load resource: the server responded with a status " \
               "of 404" if page_url.endswith("no/such/page/") else None
    return [f"console {e['level']}: {e['message']}" for e in driver.get_log("browser")
            if e["level"] in ("SEVERE", "WARNING")
            and not (expected and e["message"].startswith(expected))]


def _screenshot(driver: object, path: Path) -> None:
    import base64

    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("device", list(WIDTHS))
def test_every_page_fits_and_loads_cleanly(site: tuple[str, list[str]], browser: object,
                                           device: str) -> None:
    base, pages = site
    driver = browser
    width = WIDTHS[device]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": width < 600})
    shots = os.environ.get("POLYMOD_DOCS_SCREENSHOTS")
    driver.get_log("performance"), driver.get_log("browser")  # drop what came before
    report: dict[str, list[str]] = {}
    for page in pages:
        url = base + page
        driver.get(url)
        # Give late requests (fonts, the search index) time to finish or fail.
        driver.execute_script("return document.fonts.ready.then(() => true)")
        time.sleep(0.1)
        viewport = driver.execute_script("return document.documentElement.clientWidth")
        assert width - 20 <= viewport <= width, f"the viewport is {viewport} px, not {width}"
        problems = driver.execute_script(_LAYOUT_PROBLEMS)
        problems += _network_problems(driver, base, url)
        problems += _console_problems(driver, url)
        if problems:
            report[page or "(home)"] = problems
        if shots:
            name = (page.strip("/").replace("/", "-") or "index") + f"-{width}.png"
            Path(shots).mkdir(parents=True, exist_ok=True)
            _screenshot(driver, Path(shots) / name)
    count = sum(map(len, report.values()))
    assert not report, (
        f"{count} problems on {len(report)} of {len(pages)} pages at {width} px:\n"
        + "\n".join(f"{page}\n  " + "\n  ".join(found) for page, found in report.items()))
