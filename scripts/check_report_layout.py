"""Does an HTML report fit a browser window? Renders it in headless Chromium and measures the page.

    python scripts/check_report_layout.py report.html [--width 1400] [--screenshot shot.png --height 5000]

A copy of the report gets one script that runs after the page has loaded (the report itself has none): it compares
``document.documentElement.scrollWidth`` with ``window.innerWidth`` and lists every element whose right edge lies
beyond the window without a sideways-scrolling box around it (``overflow-x: auto | scroll | hidden``), then writes
the result as JSON into the DOM, which ``chromium --dump-dom`` prints. Exit code 0 when nothing overflows, 1 when
something does (the offenders are printed), 2 when Chromium is missing (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MARK = "layout-check"
PROBE = """
<script>
window.addEventListener("load", () => {
  const width = window.innerWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const offenders = [];
  for (const el of document.body.querySelectorAll("*")) {
    const right = el.getBoundingClientRect().right;
    if (right > width + 0.5 && !clipped(el)) {
      offenders.push({tag: el.tagName.toLowerCase(), id: el.id, cls: el.className, right: Math.round(right),
                      text: (el.textContent || el.alt || "").trim().slice(0, 60)});
    }
  }
  const out = document.createElement("pre");
  out.id = "MARK_ID";
  out.textContent = JSON.stringify({inner_width: width, scroll_width: document.documentElement.scrollWidth,
                                    offenders: offenders.slice(0, 20)});
  document.body.appendChild(out);
});
</script>
""".replace("MARK_ID", MARK)


def find_browser() -> str | None:
    """The path of a Chromium-family browser on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _run(browser: str, args: list[str], timeout_s: float) -> str:
    base = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
            "--disable-dev-shm-usage", "--virtual-time-budget=5000"]  # fmt: skip
    done = subprocess.run(base + args, capture_output=True, text=True, timeout=timeout_s, check=False)
    return done.stdout


def measure(html_path: str | Path, width: int = 1400, height: int = 900, timeout_s: float = 120.0) -> dict:
    """Render ``html_path`` in a ``width`` × ``height`` window: ``inner_width``, ``scroll_width`` (px) and the
    ``offenders`` (elements past the right edge outside any scrolling box)."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install -y chromium)")
    text = Path(html_path).read_text(encoding="utf-8")
    probed = text.replace("</body>", PROBE + "</body>", 1) if "</body>" in text else text + PROBE
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(probed, encoding="utf-8")
        dom = _run(browser, [f"--window-size={width},{height}", "--dump-dom", page.as_uri()], timeout_s)
    found = re.search(rf'<pre id="{MARK}">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError("the browser did not report the layout (no result in the dumped DOM)")
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 5000) -> None:
    """A PNG of the top ``height`` pixels of the page in a ``width``-pixel-wide window, to look at."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install -y chromium)")
    uri = Path(html_path).resolve().as_uri()
    _run(browser, [f"--window-size={width},{height}", f"--screenshot={Path(png_path).resolve()}", uri], 120.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html")
    parser.add_argument("--width", type=int, default=1400, help="window width in px (default 1400)")
    parser.add_argument("--screenshot", help="also write a PNG of the page here")
    parser.add_argument("--height", type=int, default=5000, help="screenshot height in px (default 5000)")
    args = parser.parse_args(argv)
    try:
        result = measure(args.html, args.width)
        if args.screenshot:
            screenshot(args.html, args.screenshot, args.width, args.height)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fits = result["scroll_width"] <= result["inner_width"] and not result["offenders"]
    print(f"{'fits' if fits else 'overflows'}: page {result['scroll_width']} px wide in a {result['inner_width']} px "
          f"window")  # fmt: skip
    for o in result["offenders"]:
        print(f"  <{o['tag']}{' id=' + o['id'] if o['id'] else ''}> right edge {o['right']} px: {o['text']!r}")
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
