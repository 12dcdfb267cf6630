"""The weekly report as a reader sees it: `sentinel report weekly --out` on the simulated fortnight's state,
rendered by headless Chromium (Debian package). Checks that the figures are visible and every chart image loads,
and that the screenshot's chart areas are not blank. SENTINEL_UPDATE_DOCS=1 refreshes docs/weekly-report.png."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sla_week import S3_SUMMARY, SimulatedWeek

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SENTINEL = str(ROOT / ".venv" / "bin" / "sentinel")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Appended to a copy of the report: writes what the browser laid out into the DOM for --dump-dom to show.
PROBE = """
<script>
window.addEventListener('load', function () {
  var out = {images: [], figures: [], height: document.documentElement.scrollHeight};
  document.querySelectorAll('img').forEach(function (img) {
    var r = img.getBoundingClientRect();
    out.images.push({alt: img.alt, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                     x: Math.round(r.left + window.scrollX), y: Math.round(r.top + window.scrollY),
                     rw: Math.round(r.width), rh: Math.round(r.height)});
  });
  document.querySelectorAll('.attainment, .budget, .p95, .breaches td, #alert-stats, #headline').forEach(function (el) {
    var r = el.getBoundingClientRect(), st = getComputedStyle(el);
    out.figures.push({text: el.innerText.trim(), visible: r.width > 0 && r.height > 0 && st.visibility !== 'hidden'
                      && st.display !== 'none' && parseFloat(st.opacity) > 0});
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium(*args: str, profile: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"headless Chromium not found at {CHROMIUM}: apt-get install chromium")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def report_html(week: SimulatedWeek, tmp_path: Path) -> tuple[Path, SimulatedWeek]:
    state = week.copy_state(tmp_path / "state.db")
    out = tmp_path / "report.html"
    env = {**os.environ, "SENTINEL_CONFIG_FILE": str(week.cli_config_path), "SENTINEL_STATE_PATH": str(state)}
    argv = [SENTINEL, "report", "weekly", "--week", week.cal.week_b, "--at", week.cal.now.isoformat(), "--out", str(out)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (1 of 3 SLAs missed: transactions_freshness)")
    return out, week


def test_chromium_shows_the_figures_and_loads_every_chart(report_html: tuple[Path, SimulatedWeek],
                                                          tmp_path: Path) -> None:
    html, week = report_html
    probed = tmp_path / "probed.html"
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    proc = chromium("--virtual-time-budget=5000", "--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, "the probe script did not run:\n" + proc.stdout[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                       .replace("&gt;", ">"))
    images = probe["images"]
    assert len(images) == 3
    for img in images:
        assert img["complete"] and (img["w"], img["h"]) == (760, 230), img  # decoded PNGs at their real size
    figures = {f["text"]: f["visible"] for f in probe["figures"]}
    assert all(figures.values()), [t for t, v in figures.items() if not v]
    texts = list(figures)
    assert "98.95%" in texts and "99.50%" not in texts[:1]
    assert "exhausted, over by 4m12s (budget 1h40m)" in texts
    assert f"{week.cal.b(1, 9, 55):%a %Y-%m-%d %H:%M}" in texts and "35m" in texts and "45.0 min" in texts
    assert any(t.startswith(f"s3_sink / payments.transactions: {S3_SUMMARY}") for t in texts)
    assert any(t.startswith("dbt / payments.transactions: dbt job dbt_every_15m failed") for t in texts)
    assert "1 of 3 SLAs missed: transactions_freshness" in texts


def test_screenshot_chart_areas_are_not_blank(report_html: tuple[Path, SimulatedWeek], tmp_path: Path) -> None:
    from PIL import Image

    html, _ = report_html
    probed = tmp_path / "probed.html"
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--window-size=1000,2000", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri(),
                   profile=tmp_path / "p1")  # the same width as the screenshot, so positions match
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert match
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    images = probe["images"]
    shot = tmp_path / "report.png"
    height = probe["height"] + 40
    proc = chromium(f"--screenshot={shot}", f"--window-size=1000,{height}", "--virtual-time-budget=5000",
                    html.as_uri(), profile=tmp_path / "p2")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    picture = Image.open(shot).convert("RGB")
    for img in images:
        area = picture.crop((img["x"], img["y"], img["x"] + img["rw"], img["y"] + img["rh"]))
        colors: list[Any] = area.getcolors(maxcolors=1 << 16) or []
        assert len(colors) > 20, f"chart {img['alt']} looks blank ({len(colors)} colours)"
        reds = sum(n for n, (r, g, b) in colors if r > 180 and g < 110 and b < 110)
        blues = sum(n for n, (r, g, b) in colors if b > 180 and r < 90 and g < 160)
        assert reds > 50 and blues > 50, f"{img['alt']}: threshold line (red) and data line (blue) expected"
    if os.environ.get("SENTINEL_UPDATE_DOCS") == "1":
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        left = images[0]["x"] - 40  # the report's 800-px column, centred in the window
        picture.crop((left, 0, left + 840, probe["height"])).save(docs / "weekly-report.png", optimize=True)
