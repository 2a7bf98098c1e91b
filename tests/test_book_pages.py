"""The built book read as a reader sees it, in headless Chromium at a 1,400-pixel-wide window: bookkeeping cells
(reshaping, glue, plotting) are folded behind a toggle, the cell that calls the library stays open, and no code
cell scrolls sideways. Runs after ``make test`` has built the book (marker ``book``)."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from test_report import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html" / "chapters"
# chapter -> the library call that must stay visible on its page
PAGES = {"neuron_flipping": "localization.run_flipping", "mislabel_detection": "detection.run_mislabel_scores"}

PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const visible = (el) => el.checkVisibility() && el.getBoundingClientRect().height > 0;
  const cells = [...document.querySelectorAll("div.cell")];
  const folded = cells.filter((c) => c.classList.contains("tag_hide-input"));
  const result = {
    folded: folded.length,
    folded_closed: folded.filter((c) => { const d = c.querySelector("details.above-input"); return d && !d.open; }).length,
    folded_code_hidden: folded.filter((c) => !visible(c.querySelector("div.cell_input pre"))).length,
    open_inputs: cells.filter((c) => !c.classList.contains("tag_hide-input") && c.querySelector("div.cell_input pre"))
                      .filter((c) => visible(c.querySelector("div.cell_input pre"))).map((c) => c.querySelector("div.cell_input").innerText),
    overflowing: [...document.querySelectorAll("div.cell_input pre")].filter((p) => p.scrollWidth > p.clientWidth + 1).length,
    page_width: document.documentElement.scrollWidth, window_width: window.innerWidth,
  };
  document.body.setAttribute("data-check", JSON.stringify(result));
}, 500));
</script>"""


def _check(page: str, tmp_path: Path) -> dict:
    source = HTML / f"{page}.html"
    if not source.exists():
        pytest.fail(f"{source} is missing: build the book first (make test builds it before running these checks)")
    probe = source.with_name(f"_probe_{page}.html")  # beside the page, so its scripts and styles load
    probe.write_text(source.read_text().replace("</body>", PROBE + "</body>"))
    try:
        dom = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", "--virtual-time-budget=8000",
             "--dump-dom", probe.as_uri()], check=True, capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
    finally:
        probe.unlink()
    found = re.search(r'data-check="([^"]*)"', dom)
    assert found, "the probe script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


@pytest.mark.book
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium; make test installs it as root)")
@pytest.mark.parametrize("page", list(PAGES))
def test_bookkeeping_is_folded_and_the_library_call_is_open(page, tmp_path):
    result = _check(page, tmp_path)
    assert result["folded"] >= 3 and result["folded_closed"] == result["folded"] == result["folded_code_hidden"], result
    open_code = "\n".join(result["open_inputs"])
    assert PAGES[page] in open_code, result  # the one-hop link from the text to curvlib is in view
    assert "glue(" not in open_code and "plt." not in open_code, result  # and nothing else that is bookkeeping
    assert result["overflowing"] == 0 and result["page_width"] <= result["window_width"], result
