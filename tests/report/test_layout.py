"""Where things sit in a report: the summary first, each section's figures right after its tables, a short collapsed
table of contents, and an HTML page that fits a 1400-px window in a real browser (skipped without Chromium)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snnbench.report import build_report

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_report_layout.py"
# The section whose tables each figure illustrates, by file stem.
FIGURE_SECTION = {
    "accuracy_depth": "Accuracy", "training": "Accuracy", "noise": "Robustness to input noise",
    "energy_depth": "Energy", "firing_layers": "Firing rate per layer", "firing_steps": "Firing rate per layer",
    "thresholds": "Thresholds", "power": "Training cost",
}  # fmt: skip
SECTION_ORDER = ["Summary", "Accuracy", "Robustness to input noise", "Energy", "Firing rate per layer", "Thresholds",
                 "Training cost", "stl vs sl / tl across seeds", "The paper's claims", "Failures"]  # fmt: skip


def test_markdown_sections_in_order_with_their_figures_after_their_tables(store, tmp_path):
    out = tmp_path / "report.md"
    text = build_report([store], "markdown", plots_dir=tmp_path / "fig", output=out)
    sections = text.split("\n## ")[1:]
    assert [s.split("\n")[0] for s in sections] == SECTION_ORDER
    seen = 0
    for section in sections:
        title = section.split("\n")[0]
        figures = re.findall(r"^!\[[^\]]*\]\(fig/([a-z_]+)-", section, re.M)
        assert all(FIGURE_SECTION[stem] == title for stem in figures), (title, figures)
        if figures:  # tables first, then every figure of the section; nothing after the figures
            first = section.index("![")
            assert "| " in section[:first] and "| " not in section[first:] and "### " not in section[first:]
        seen += len(figures)
    assert seen == len(list((tmp_path / "fig").glob("*.png"))) == 14


def test_html_leads_with_the_summary_and_has_no_link_list_before_the_results(store):
    text = build_report([store], "html")
    body = text[text.index("<body>") :]
    assert body.index('<h2 id="sec-summary">Summary</h2>') < body.index("<table>")
    before_results = body[: body.index("<table>")]
    assert "<a " not in before_results and "<nav" not in text
    toc = re.search(r'<details class="toc"><summary>Contents</summary><ol>(.*?)</ol></details>', text).group(1)
    assert re.findall(r">([^<]+)</a>", toc) == [t.replace("'", "&#x27;") for t in SECTION_ORDER[1:]]
    assert body.index("</details>") > body.index("The paper&#x27;s claims at a glance")  # after the summary
    # each figure sits in its section: after that section's heading, before the next one
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"<h2 id=\"sec-[^\"]+\">([^<]+)</h2>", body)]
    for match in re.finditer(r'<figure><img alt="([^"]+)"', body):
        section = [title for start, title in headings if start < match.start()][-1]
        kind = match.group(1).split(" — ")[0]
        expected = {"Test accuracy vs depth": "Accuracy", "Test accuracy per epoch": "Accuracy",
                    "Estimated energy vs depth": "Energy", "Firing rate per layer": "Firing rate per layer",
                    "Firing rate per time step": "Firing rate per layer", "Thresholds over epochs": "Thresholds",
                    "GPU power": "Training cost"}  # fmt: skip
        assert section == expected.get(kind, "Robustness to input noise"), (kind, section)
    assert body.count('<div class="table">') == body.count("<table>")  # every table scrolls in its own box


needs_chromium = pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
    reason="no chromium on PATH (apt-get install -y chromium)",
)


def _check(html_path: Path, width: int = 1400) -> subprocess.CompletedProcess:
    args = [sys.executable, str(SCRIPT), str(html_path), "--width", str(width)]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)


@needs_chromium
def test_html_report_fits_a_1400_px_window(store, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(build_report([store], "html"), encoding="utf-8")
    done = _check(page)
    assert done.returncode == 0 and done.stdout.startswith("fits: page 1400 px wide in a 1400 px window"), done


@needs_chromium
def test_the_check_sees_a_table_that_overflows(tmp_path):
    cells = "".join(f"<td>column {i} with a long header</td>" for i in range(40))
    page = tmp_path / "wide.html"
    page.write_text(f"<!DOCTYPE html><html><body><table><tr>{cells}</tr></table></body></html>", encoding="utf-8")
    done = _check(page)
    assert done.returncode == 1 and done.stdout.startswith("overflows: page "), done
    assert "<table> right edge" in done.stdout
