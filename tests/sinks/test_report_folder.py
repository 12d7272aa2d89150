"""The report-folder sink: files written at flush, whole or not at all, kept until written;
S3 failures sorted into retry-later and fatal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from driftstream.detectors.base import Document
from driftstream.sinks.aws import AwsError
from driftstream.sinks.base import SinkUnavailableError
from driftstream.sinks.report_folder import ReportFolderSink, split_s3

REPORT = {"violations": [{"feature_name": "age", "constraint_check_type": "x", "description": "d"}]}


def test_files_are_written_at_flush_in_model_monitors_style(tmp_path: Path) -> None:
    sink = ReportFolderSink(str(tmp_path / "reports"))
    sink.setup()
    sink.add_documents([Document("2026/11/01/00/00/constraint_violations.json", REPORT)])
    target = (
        tmp_path / "reports" / "2026" / "11" / "01" / "00" / "00" / "constraint_violations.json"
    )
    assert not target.exists()
    sink.flush()
    text = target.read_text()
    assert json.loads(text) == REPORT
    assert text.startswith('{\n  "violations": [\n    {\n      "feature_name": "age"')
    # written again (a window replayed after a restart): replaced, nothing left beside it
    sink.add_documents(
        [Document("2026/11/01/00/00/constraint_violations.json", {"violations": []})]
    )
    sink.close()
    assert json.loads(target.read_text()) == {"violations": []}
    assert [p.name for p in target.parent.iterdir()] == ["constraint_violations.json"]


def test_a_file_that_cannot_be_written_stays_pending(tmp_path: Path) -> None:
    (tmp_path / "2026").write_text("a file where a folder should be")
    sink = ReportFolderSink(str(tmp_path))
    sink.add_documents([Document("2026/11/statistics.json", {"a": 1})])
    with pytest.raises(OSError):
        sink.flush()
    (tmp_path / "2026").unlink()
    sink.flush()  # the loop's next flush, after back-off
    assert json.loads((tmp_path / "2026" / "11" / "statistics.json").read_text()) == {"a": 1}


@pytest.mark.parametrize("path", ["/abs/x.json", "../x.json", "a/../../x.json", "a//x.json", ""])
def test_paths_stay_inside_the_folder(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="must be relative"):
        ReportFolderSink(str(tmp_path)).add_documents([Document(path, {})])


class FakeS3:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.objects: dict[tuple[str, str], bytes] = {}

    def head_bucket(self, Bucket: str) -> None:  # noqa: N803 - boto3's argument names
        pass

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803
        if self.failures:
            raise self.failures.pop(0)
        self.objects[(Bucket, Key)] = Body


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "PutObject")


def test_s3_keys_failures_and_retries() -> None:
    assert split_s3("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_s3("s3://bucket") == ("bucket", "")
    fake = FakeS3([_client_error("SlowDown", 503)])
    sink = ReportFolderSink("s3://bucket/mm/reports/", lambda: fake)
    sink.setup()
    sink.add_documents([Document("2026/11/01/00/00/statistics.json", {"a": 1})])
    with pytest.raises(SinkUnavailableError, match="SlowDown"):
        sink.flush()
    sink.flush()
    assert json.loads(fake.objects[("bucket", "mm/reports/2026/11/01/00/00/statistics.json")]) == {
        "a": 1
    }

    fatal = ReportFolderSink("s3://gone", lambda: FakeS3([_client_error("NoSuchBucket", 404)]))
    fatal.add_documents([Document("x.json", {})])
    with pytest.raises(AwsError, match=r"report folder s3://gone/x\.json: NoSuchBucket"):
        fatal.flush()
