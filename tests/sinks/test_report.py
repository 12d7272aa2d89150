"""The HTML report (sinks/report/, `driftstream report`): a page that names what drifted and
draws it, loads nothing from anywhere, escapes what came from the data, and is still made from
an events file that a stopped run left behind."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from driftstream.detectors.baseline import load_baseline
from driftstream.sinks.report import ReportError, read_events, render_report, write_report
from driftstream.streamer.app.cli import EXIT_OK, EXIT_USAGE, main
from tests.sinks import report_events
from tests.sinks.report_events import DRIFTED, write_events
from tests.sinks.report_page import parse

BASELINE = Path(__file__).resolve().parents[1] / "data" / "baselines" / "sdk_pipeline"


@pytest.fixture(autouse=True)
def _forget_the_cli_log_setup() -> Iterator[None]:
    """`main` points structlog at this test's captured stderr, which pytest closes afterwards:
    later tests logging through it would fail on a closed file."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return write_events(tmp_path / "events.jsonl")


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page of the example events with the baseline (made once: drawing takes a while)."""
    return render_report(write_events(tmp_path_factory.mktemp("report") / "events.jsonl"), BASELINE)


def test_the_page_names_each_drifted_feature_and_draws_its_plots(html: str) -> None:
    page = parse(html)
    assert page.h1 == ["Drift report"]
    assert set(DRIFTED) <= set(page.h3)
    # a statistics figure per drifted feature, a distribution for the two that have one, the
    # completeness check of `device` (a violation, no drift), the rejections by reason
    assert page.figures == len(DRIFTED) + 2 + 1 + 1
    assert page.figures_with_svg == page.figures
    # the features without a detection: a sparkline per trace series (age: 3, device: 1)
    assert page.sparklines == 4
    assert {"Summary", "Features in drift", "Data quality", "Rejected records"} <= set(page.h2)
    assert {"Model quality", "Bias", "Retrain signals"} <= set(page.h2)


def test_the_page_loads_nothing_from_anywhere(html: str) -> None:
    for outside in ('src="http', "src='http", 'href="http', "@import", "url(http", "url('http"):
        assert outside not in html
    page = parse(html)
    assert page.urls == []
    assert not page.tags & {"script", "link", "iframe", "img", "object", "embed"}
    assert "http" not in html  # not even an SVG namespace: the HTML parser supplies it


def test_names_from_the_data_are_escaped(html: str) -> None:
    assert "<b>x</b>" not in html and "<i>GB</i>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" in parse(html).h3  # shown as written


def test_model_quality_and_bias_panels_only_when_present(tmp_path: Path) -> None:
    lines = [
        e
        for e in report_events.events()
        if not str(e.get("detector", "")).startswith(("model_quality", "bias"))
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    page = parse(render_report(path))
    assert "Model quality" not in page.h2 and "Bias" not in page.h2
    assert "Features in drift" in page.h2


def test_a_truncated_last_line_is_counted_and_skipped(tmp_path: Path) -> None:
    """An interrupted run: the summary line itself cut half-way."""
    path = write_events(tmp_path / "events.jsonl")
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 1 + 200])
    run = read_events(path)
    assert run.malformed_lines == 1
    assert run.summary is None
    assert run.drifted_features() == list(DRIFTED)
    page = parse(render_report(path))
    assert set(DRIFTED) <= set(page.h3)
    assert "1 of" in page.text and "were not events" in page.text
    assert page.figures == 1  # no trace, no distributions: the rejections, from their events


def test_an_events_file_without_summary_or_plot_data(tmp_path: Path) -> None:
    for name, summary_line in (("no-summary.jsonl", False), ("old.jsonl", True)):
        path = write_events(tmp_path / name, with_plot_data=False, summary_line=summary_line)
        page = parse(render_report(path))
        assert set(DRIFTED) <= set(page.h3)
        assert "no summary line" in page.text if not summary_line else "20,000" in page.text
        assert "No statistics over time" in page.text
        assert page.figures == 1  # rejections by reason


def test_parts_of_the_summary_in_the_wrong_shape_are_skipped(tmp_path: Path) -> None:
    lines = report_events.events()
    summary = lines[-1]
    summary["trace"]["series"].append({"feature": "age", "detector": "adwin", "points": [[1]]})
    summary["distributions"]["features"].append({"feature": "age", "kind": "numeric"})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    run = read_events(path)
    assert run.skipped_parts == 2
    assert len(run.series) == len(report_events.trace()["series"])
    assert set(run.distributions) == {"balance", "country"}


def test_a_file_of_no_events_is_an_error_and_an_empty_one_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match="not an events file"):
        read_events(tmp_path / "data.csv")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    page = parse(render_report(tmp_path / "empty.jsonl"))
    assert "No feature drifted." in page.text


def test_the_baseline_is_named_and_its_numeric_features_summarised(html: str) -> None:
    baseline = load_baseline(BASELINE)
    page = parse(html)
    assert "Baseline" in page.h2
    assert baseline.identity in page.text
    numeric = [f.name for f in baseline.features if f.numeric is not None]
    assert numeric and all(name in page.text for name in numeric)


def test_write_report_replaces_the_page_whole(events: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    write_report(events, out)
    first = out.read_text()
    assert first.startswith("<!DOCTYPE html>") and first.endswith("</html>\n")
    with pytest.raises(ReportError):
        write_report(tmp_path / "missing.jsonl", out)
    assert out.read_text() == first
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary left


def test_cli_report_writes_beside_the_events_and_says_where(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(events)]) == EXIT_OK
    out = events.with_suffix(".html")
    assert set(DRIFTED) <= set(parse(out.read_text()).h3)
    assert capsys.readouterr().err.splitlines() == [f"driftstream: report written to {out}"]
    other = events.parent / "elsewhere.html"
    assert main(["report", str(events), "-o", str(other), "--baseline", str(BASELINE)]) == 0
    assert "Baseline" in parse(other.read_text()).h2


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "missing.jsonl: no such file"),
        ("directory", "not a file"),
        ("not-events", "not an events file"),
        ("bad-baseline", "statistics.json: file not found"),
        ("same-file", "would replace the events file"),
    ],
)
def test_cli_report_usage_errors_exit_2_with_one_line(
    case: str, message: str, events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {
        "missing": [str(tmp_path / "missing.jsonl")],
        "directory": [str(tmp_path)],
        "not-events": [str(BASELINE / "statistics.json"), "-o", str(tmp_path / "r.html")],
        "bad-baseline": [str(events), "--baseline", str(tmp_path / "nowhere")],
        "same-file": [str(events), "-o", str(events)],
    }[case]
    assert main(["report", *args]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("driftstream: error: ") and message in err[0]
    assert not events.with_suffix(".html").exists()


def test_matplotlib_is_loaded_only_to_draw() -> None:
    """`driftstream replay` imports the report package for `--report`; plain replays must not
    pay for matplotlib."""
    probe = (
        "import sys\n"
        "import driftstream.sinks.report, driftstream.streamer.app.cli\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


def test_a_quality_signal_says_which_metric_fell_and_quality_gets_a_tile(tmp_path: Path) -> None:
    """A retrain signal decided by model quality names its metric, value and threshold (not a
    share of drifted features), and model-quality alarms are among the first numbers read."""
    lines = [
        {
            "kind": "violation",
            "record_index": 2999,
            "detector": "model_quality_check",
            "metric": "accuracy",
            "value": 0.72,
            "threshold": 0.86,
        },
        {
            "kind": "retrain_signal",
            "record_index": 2999,
            "decision": "retrain",
            "trigger": "quality",
            "value": 0.72,
            "threshold": 0.8,
            "features": [],
            "idempotency_key": "0123456789abcdef0123",
            "evidence": {
                "feature_share": 0.0,
                "record_range": [2999, 2999],
                "quality_breach": {
                    "detector": "model_quality_check",
                    "metric": "accuracy",
                    "value": 0.72,
                    "threshold": 0.86,
                },
            },
        },
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    page = render_report(events)
    assert "model-quality alarms" in page
    assert "accuracy 0.72 vs 0.86 (model_quality_check)" in page
    assert page.index('id="model-quality"') < page.index('id="signals"')
