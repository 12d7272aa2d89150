"""The summary's report data: one partition as given, several named and added up."""

from __future__ import annotations

from typing import Any

from driftstream.streamer.checkpoint.base import Partition
from driftstream.streamer.runtime.summary import RunSummary, report_keys


def _report(counts: list[int], first: int) -> dict[str, Any]:
    return {
        "trace": [
            {
                "feature": "x",
                "detector": "adwin",
                "lower_bound": False,
                "points": [[first, 1.0, 2.0]],
            }
        ],
        "distributions": {
            "window": sum(counts) + 1,
            "features": [
                {
                    "feature": "x",
                    "kind": "numeric",
                    "edges": [0.0, 1.0, 2.0],
                    "baseline": [0.5, 0.5],
                    "recent": counts,
                    "below": 0,
                    "above": 1,
                    "missing": 0,
                }
            ],
        },
    }


def test_one_partition_is_reported_as_its_monitor_gave_it() -> None:
    keys = report_keys({Partition("replay", 0): _report([3, 4], 7)})
    assert keys["trace"]["series"] == _report([3, 4], 7)["trace"]
    assert keys["distributions"] == _report([3, 4], 7)["distributions"]


def test_several_partitions_name_their_series_and_add_up_their_counts() -> None:
    keys = report_keys(
        {Partition("captures", 1): _report([1, 2], 5), Partition("captures", 0): _report([3, 4], 9)}
    )
    assert [(s["partition"], s["points"]) for s in keys["trace"]["series"]] == [
        (str(Partition("captures", 0)), [[9, 1.0, 2.0]]),
        (str(Partition("captures", 1)), [[5, 1.0, 2.0]]),
    ]
    (feature,) = keys["distributions"]["features"]
    assert (feature["recent"], feature["above"]) == ([4, 6], 2)
    assert keys["distributions"]["window"] == 8 + 4


def test_the_summary_event_carries_the_report_keys_only_when_given() -> None:
    summary = RunSummary(records_read=3)
    assert "trace" not in summary.to_event().to_dict()
    summary.report = report_keys({Partition("replay", 0): _report([1, 1], 0)})
    event = summary.to_event().to_dict()
    assert event["trace"]["series"][0]["feature"] == "x"
    assert event["records_read"] == 3
    assert report_keys({}) == {}
