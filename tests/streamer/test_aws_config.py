"""AWS configuration and error classification: what is fatal, what is retried, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml

from driftstream.sinks import aws
from driftstream.sinks.aws import AwsSettings
from driftstream.streamer.app.config import ConfigError, load_config


def client_error(code: str, status: int, message: str = "it failed") -> Any:
    return botocore.exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Operation",
    )


@pytest.mark.parametrize(
    ("exc", "fatal", "throttle", "retryable"),
    [
        (client_error("ProvisionedThroughputExceededException", 400), False, True, True),
        (client_error("ThrottlingException", 400), False, True, True),
        (client_error("AccessDeniedException", 400), True, False, False),
        (client_error("ResourceNotFoundException", 400), True, False, False),
        (client_error("NoSuchBucket", 404), True, False, False),
        (client_error("InternalFailure", 500), False, False, True),
        (client_error("ServiceUnavailable", 503), False, False, True),
        (client_error("SomethingNew", 400), True, False, False),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), False, False, True),
        (botocore.exceptions.NoCredentialsError(), True, False, False),
    ],
)
def test_error_classes(exc: Exception, fatal: bool, throttle: bool, retryable: bool) -> None:
    assert aws.is_fatal(exc) is fatal
    assert aws.is_throttle(exc) is throttle
    assert aws.is_retryable(exc) is retryable


def test_fatal_errors_read_as_one_line_without_secrets() -> None:
    err = aws.fatal(
        "kinesis stream 'x'",
        client_error("AccessDeniedException", 400, "User arn:aws:iam::1:user/u is not\nauthorized"),
    )
    assert isinstance(err, aws.AwsError)  # the CLI exits 2 with its one line
    assert str(err) == (
        "kinesis stream 'x': AccessDeniedException: User arn:aws:iam::1:user/u is not"
    )
    assert "credentials" in aws.describe(botocore.exceptions.NoCredentialsError())


def test_unknown_profile_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(aws.AwsError, match=r"aws\.profile: profile 'nope' is not configured"):
        aws.client("kinesis", AwsSettings(profile="nope"))


def test_missing_region_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(aws.AwsError, match=r"aws\.region: no AWS region configured"):
        aws.client("kinesis", AwsSettings())


def _load(tmp_path: Path, tree: dict[str, Any]) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tree))
    return load_config(path, environ={})


def test_signal_targets_and_paths(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        {
            "sinks": {
                "signal_outbox": "box",
                "signals": [
                    {"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:t"},
                    {"type": "webhook", "url": "https://h/p?token=abc", "secret": 987654},
                    {"type": "file", "path": "signals.jsonl"},
                    {
                        "type": "sagemaker_pipeline",
                        "pipeline_name": "p",
                        "parameters": {"Key": "idempotency_key", "Base": "evidence.baseline"},
                    },
                    {"type": "kafka", "topic": "t", "bootstrap_servers": "a:1,b:2"},
                    {"type": "eventbridge", "name": "bus"},
                ],
            },
        },
    )
    names = [t.target_name() for t in config.sinks.signals]
    assert names == [
        "sns:arn:aws:sns:us-east-1:123456789012:t",
        "webhook:https://h/p",  # the query (a token, maybe) stays out of names and logs
        f"file:{tmp_path / 'signals.jsonl'}",
        "sagemaker_pipeline:p",
        "kafka:t",
        "bus",
    ]
    assert config.sinks.signal_outbox == tmp_path / "box"
    webhook = config.sinks.signals[1]
    assert webhook.secret.get_secret_value() == "987654"  # a number in YAML: text
    assert "987654" not in repr(config)
    assert config.sinks.signals[4].bootstrap_servers == ("a:1", "b:2")


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"sinks": {"signals": [{"type": "pigeon"}]}}, "sinks.signals.0"),
        (
            {"sinks": {"signals": [{"type": "file", "path": "a"}, {"type": "file", "path": "a"}]}},
            "two signal targets are named",
        ),
        (
            {
                "sinks": {
                    "signals": [
                        {
                            "type": "sagemaker_pipeline",
                            "pipeline_name": "p",
                            "parameters": {"X": "nope"},
                        }
                    ]
                }
            },
            "'nope' is not a signal field",
        ),
        (
            {
                "sinks": {
                    "cloudwatch": {
                        "monitoring_schedule": "s",
                        "dimensions": {f"d{i}": "v" for i in range(29)},
                    }
                }
            },
            "at most 28 extra dimensions",
        ),
        (
            {"sinks": {"cloudwatch": {"monitoring_schedule": "s", "namespace": "AWS/Mine"}}},
            "cannot start with 'AWS/'",
        ),
        ({"sinks": {"cloudwatch": {}}}, "sinks.cloudwatch.monitoring_schedule: Field required"),
        (
            {
                "sources": {
                    "kinesis": {"stream_name": "s"},
                    "kafka": {"bootstrap_servers": ["a:1"], "topics": ["t"]},
                }
            },
            "set one live source",
        ),
        ({"sources": {"kinesis": {"stream_name": "bad/name"}}}, "sources.kinesis.stream_name"),
        ({"aws": {"endpoint_url": "localhost:4566"}}, "aws.endpoint_url"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, tree: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, tree)
    assert "\n" not in str(info.value)


def test_where_events_go_does_not_change_the_config_identity(tmp_path: Path) -> None:
    plain = _load(tmp_path, {"endpoint": "e"})
    wired = _load(
        tmp_path,
        {
            "endpoint": "e",
            "aws": {"region": "eu-west-1"},
            "sources": {"kinesis": {"stream_name": "s"}},
            "sinks": {
                "cloudwatch": {"monitoring_schedule": "s"},
                "signals": [{"type": "file", "path": "x"}],
            },
        },
    )
    assert plain.identity() == wired.identity()
