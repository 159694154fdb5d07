"""Open an HTML report in headless Chromium, as a reader would, and report what rendered.

``check_page(html)`` loads a copy of the page with two small scripts added: one at the top
of ``<head>`` records every console error, uncaught exception and failed resource load; one
at the end of ``<body>`` waits for the load event and writes what the page shows (headings
and whether they are visible, every image's natural size, the page's text and height) into
the DOM, which ``chromium --dump-dom`` prints. The network is disabled (every host name
resolves to nothing), so a report that needs the internet fails the check.
``screenshot(html, png)`` captures the original page with ``--screenshot``.

Chromium is found as ``$BGS_CHROMIUM`` or on PATH (``chromium``, ``chromium-browser``,
``google-chrome``); Debian installs it with ``apt-get install chromium``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bgs.errors import BGSError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9")
RESULT_ID = "bgs-page-check"

_HEAD_PROBE = """<script>(function () {
  var errors = window.__bgsErrors = [];
  var log = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return log.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      errors.push("failed to load " + t.tagName.toLowerCase() + " " + String(t.src || t.href).slice(0, 120));
    } else {
      errors.push("uncaught " + (e.message || "error"));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { errors.push("blocked " + e.blockedURI); });
})();</script>"""

_TAIL_PROBE = """<script>window.addEventListener("load", function () {
  function shown(el) { var r = el.getBoundingClientRect(); var s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; }
  var heads = Array.prototype.map.call(document.querySelectorAll("h1, h2, h3"), function (h) {
    return {tag: h.tagName.toLowerCase(), text: h.textContent.trim(), visible: shown(h)}; });
  var imgs = Array.prototype.map.call(document.images, function (im) {
    return {alt: im.alt, complete: im.complete, width: im.naturalWidth, height: im.naturalHeight,
            visible: shown(im)}; });
  var result = {headings: heads, images: imgs, errors: window.__bgsErrors || [],
                text: document.body.innerText, height: document.documentElement.scrollHeight,
                title: document.title};
  var out = document.createElement("pre");
  out.id = "%s"; out.style.display = "none";
  out.textContent = btoa(unescape(encodeURIComponent(JSON.stringify(result))));
  document.body.appendChild(out);
});</script>""" % RESULT_ID


@dataclass
class PageCheck:
    """What headless Chromium rendered of a page."""

    headings: list[dict] = field(default_factory=list)  # tag, text, visible
    images: list[dict] = field(default_factory=list)  # alt, complete, width, height, visible
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    text: str = ""  # the page's rendered text (innerText)
    height: int = 0  # of the whole page, in CSS pixels at the window width
    title: str = ""

    @property
    def broken_images(self) -> list[dict]:
        return [im for im in self.images if not (im["complete"] and im["width"] > 0 and im["height"] > 0)]


def find_chromium() -> str | None:
    """The Chromium executable: ``$BGS_CHROMIUM``, else the first of :data:`CANDIDATES` on PATH."""
    explicit = os.environ.get("BGS_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _chromium() -> str:
    exe = find_chromium()
    if exe is None:
        raise BGSError("no Chromium found (looked for $BGS_CHROMIUM and " + ", ".join(CANDIDATES)
                       + " on PATH). Fix: install it, e.g. `apt-get install chromium` on Debian")
    return exe


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Chromium with the headless flags and a fresh, empty profile."""
    with tempfile.TemporaryDirectory(prefix="bgs-chromium-") as profile:
        cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BGSError(f"Chromium did not finish within {timeout:.0f} s ({' '.join(args[-1:])}). "
                           f"Fix: raise the timeout or check that Chromium starts") from None


def _with_probes(html: str) -> str:
    head = re.search(r"<head[^>]*>", html, re.I)
    html = html[:head.end()] + _HEAD_PROBE + html[head.end():] if head else _HEAD_PROBE + html
    tail = html.lower().rfind("</body>")
    return html[:tail] + _TAIL_PROBE + html[tail:] if tail >= 0 else html + _TAIL_PROBE


def check_page(path: str | os.PathLike, width: int = 1280, timeout: float = 90) -> PageCheck:
    """Render ``path`` headless (network disabled) and return what it shows."""
    path = Path(path)
    if not path.is_file():
        raise BGSError(f"{path}: no such page")
    with tempfile.TemporaryDirectory(prefix="bgs-page-") as tmp:
        copy = Path(tmp) / path.name  # beside nothing: a page that needs its folder fails
        copy.write_text(_with_probes(path.read_text(encoding="utf-8")), encoding="utf-8")
        done = _run([f"--window-size={width},1000", "--virtual-time-budget=20000", "--dump-dom",
                     copy.as_uri()], timeout)
    found = re.search(rf'<pre id="{RESULT_ID}"[^>]*>([A-Za-z0-9+/=]+)</pre>', done.stdout)
    if found is None:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise BGSError(f"{path}: Chromium rendered no result (exit {done.returncode}; "
                       f"{' | '.join(tail) or 'no output'})")
    data = json.loads(base64.b64decode(found.group(1)).decode("utf-8"))
    return PageCheck(**{k: data[k] for k in ("headings", "images", "errors", "text", "height", "title")})


def screenshot(path: str | os.PathLike, png: str | os.PathLike, width: int = 1280,
               height: int = 1600, timeout: float = 90) -> Path:
    """A PNG of the top ``width × height`` CSS pixels of the page, as Chromium draws it."""
    path, png = Path(path), Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgs-shot-") as tmp:
        shot = Path(tmp) / "page.png"
        done = _run([f"--window-size={width},{height}", "--virtual-time-budget=20000",
                     f"--screenshot={shot}", path.resolve().as_uri()], timeout)
        if not shot.is_file() or shot.stat().st_size == 0:
            raise BGSError(f"{path}: Chromium wrote no screenshot (exit {done.returncode})")
        shutil.move(str(shot), png.with_name(f".{png.name}.tmp"))
        os.replace(png.with_name(f".{png.name}.tmp"), png)
    return png
