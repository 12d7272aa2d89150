"""The `reports` section of the config: where `--violations-out` and `--violations-window` go."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftstream.streamer.app.config import ConfigError, load_config


def test_a_relative_folder_is_the_config_files_and_s3_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "c.yaml"
    config.parent.mkdir()
    config.write_text("reports:\n  violations_out: reports\n  violations_window: 10000r\n")
    loaded = load_config(config, environ={})
    assert loaded.reports.violations_out == str(tmp_path / "conf" / "reports")
    assert loaded.reports.violations_window == "10000r"
    config.write_text("reports:\n  violations_out: s3://bucket/mm/reports\n")
    assert load_config(config, environ={}).reports.violations_out == "s3://bucket/mm/reports"
    assert load_config(None, environ={}).reports.violations_window == "1h"


def test_reports_do_not_change_what_is_detected() -> None:
    plain = load_config(None, environ={})
    reported = load_config(None, environ={}, **{"reports.violations_out": "x"})
    assert plain.identity() == reported.identity()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("reports.violations_window", "5x", "reports.violations_window: '5x' is not a window"),
        ("reports.violations_window", "0r", "is not a window"),
        ("reports.violations_out", "s3:///prefix", "expected s3://bucket"),
    ],
)
def test_a_wrong_value_is_one_line_naming_its_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ={}, **{key: value})
