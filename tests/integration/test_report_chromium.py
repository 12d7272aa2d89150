"""The report as a person sees it: a real `driftstream replay --report` of a capture with drift on
two features, rendered by a real browser (headless Chromium, Debian's package, scripts/chromium.sh
install); its screenshot is not blank and its DOM names the drifted features, every one of them.
Without Chromium: a skip on a developer's machine, a failure in CI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv
from tests import services
from tests.sinks.report_page import parse
from tests.streamer.test_replay_cli import cli, read_events

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 1280, 2000
TIMEOUT = 120  # seconds; a first start on a loaded machine takes a few
# "Not blank": a blank page inks no pixel; the first screen of a report (title, tiles, tables,
# the first feature's plots) inks 4-9% of them. "Plots drawn": matplotlib's anti-aliased coloured
# lines and fills give thousands of distinct saturated colours; a page of text and tables (grey
# and black) gives few, so 100 tells a page whose plots failed to render.
MIN_INK_SHARE = 0.02
MIN_COLOURS = 100


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        services.unavailable("chromium not on PATH (scripts/chromium.sh install)")
    return found


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a profile of its own; as root it needs --no-sandbox."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium {args[0]} did not finish in {TIMEOUT} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """`replay --report` of 30,000 records, `age` shifted and `country`'s mix changed from
    record 12,000: (the report, the features the events say drifted)."""
    root = tmp_path_factory.mktemp("report")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    changes = (
        Change("mean_shift", "age", 12_000, 0.8),
        Change("category_mix", "country", 12_000, 0.4),
    )
    capture = root / "capture.jsonl"
    capture.write_bytes(
        b"".join(line + b"\n" for line in capture_lines(Scenario("r", 30_000, changes)))
    )
    done = cli(
        "replay",
        str(capture),
        "--baseline",
        "baseline",
        "--events-out",
        "events.jsonl",
        "--report",
        "report.html",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert "report written to report.html" in done.stderr
    drifted = {e["feature"] for e in read_events(root / "events.jsonl") if e["kind"] == "drift"}
    assert {"age", "country"} <= drifted
    return root / "report.html", drifted


@pytest.fixture
def report(replayed: tuple[Path, set[str]]) -> Path:
    return replayed[0]


def test_the_screenshot_of_the_report_is_not_blank(report: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    shot = tmp_path / "report.png"
    _run(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        report.as_uri(),
    )
    pixels = imread(shot)  # floats in [0, 1], RGB or RGBA
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    rgb = np.round(pixels[..., :3] * 255).astype(np.int16).reshape(-1, 3)
    ink = float(np.mean(rgb.min(axis=1) < 235))
    coloured = rgb[rgb.max(axis=1) - rgb.min(axis=1) > 40]  # not white, grey or black
    colours = np.unique(coloured, axis=0).shape[0]
    assert ink >= MIN_INK_SHARE, f"{ink:.1%} of the pixels inked: blank"
    assert colours >= MIN_COLOURS, f"{colours} distinct colours: no plot drawn"
    shutil.copy(shot, report.with_suffix(".png"))  # beside the page, for a person to look at


def test_the_rendered_page_names_the_drifted_features(
    replayed: tuple[Path, set[str]], tmp_path: Path
) -> None:
    report, drifted = replayed
    chromium = _chromium()
    done = _run(chromium, tmp_path / "profile", "--dump-dom", report.as_uri())
    page = parse(done.stdout)
    assert drifted <= set(page.h3)
    assert page.figures_with_svg == page.figures > 0
