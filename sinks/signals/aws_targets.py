"""Signal targets on AWS: an SNS topic, an EventBridge bus, a SageMaker pipeline.

Each sends the signal document (sinks/signals/base.py) and carries the idempotency key where the
service can use it: SNS message attribute `idempotency_key` (and MessageDeduplicationId on FIFO
topics), EventBridge detail field `idempotency_key`, SageMaker `ClientRequestToken`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions
import orjson

from driftstream.sinks import aws
from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget

ClientFactory = Callable[[], Any]
#: SageMaker pipeline parameter values are strings of at most this many characters
MAX_PARAMETER_VALUE = 1024


def _delivery_error(what: str, exc: BaseException) -> DeliveryError:
    return DeliveryError(f"{what}: {aws.describe(exc)}", retryable=aws.is_retryable(exc))


class _AwsTarget(SignalTarget):
    service = ""

    def __init__(self, name: str, client_factory: ClientFactory) -> None:
        super().__init__(name)
        self._client_factory = client_factory
        self._client: Any = None

    def setup(self) -> None:
        if self._client is None:
            self._client = self._client_factory()

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        self.setup()
        try:
            return getattr(self._client, method)(**kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _delivery_error(what, exc) from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class SnsSignalTarget(_AwsTarget):
    """Publishes the document as the message (Subject configurable)."""

    def __init__(
        self, name: str, client_factory: ClientFactory, *, topic_arn: str, subject: str
    ) -> None:
        super().__init__(name, client_factory)
        self.topic_arn = topic_arn
        self.subject = subject

    def deliver(self, signal: Signal) -> None:
        kwargs: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Message": signal.body.decode(),
            "Subject": self.subject,
            "MessageAttributes": {
                "type": {"DataType": "String", "StringValue": "driftstream.retrain_signal"},
                "idempotency_key": {"DataType": "String", "StringValue": signal.key},
                "endpoint": {"DataType": "String", "StringValue": signal.endpoint or "-"},
            },
        }
        if self.topic_arn.endswith(".fifo"):
            kwargs["MessageGroupId"] = (signal.endpoint or "driftstream")[:128]
            kwargs["MessageDeduplicationId"] = signal.key[:128]
        self._call(f"sns topic {self.topic_arn}", "publish", **kwargs)


class EventBridgeSignalTarget(_AwsTarget):
    """PutEvents with `source` and `detail_type` as configured, the document as `Detail`."""

    def __init__(
        self,
        name: str,
        client_factory: ClientFactory,
        *,
        event_bus: str,
        source: str,
        detail_type: str,
    ) -> None:
        super().__init__(name, client_factory)
        self.event_bus = event_bus
        self.source = source
        self.detail_type = detail_type

    def deliver(self, signal: Signal) -> None:
        answer = self._call(
            f"eventbridge bus {self.event_bus}",
            "put_events",
            Entries=[
                {
                    "Source": self.source,
                    "DetailType": self.detail_type,
                    "Detail": signal.body.decode(),
                    "EventBusName": self.event_bus,
                }
            ],
        )
        if answer.get("FailedEntryCount"):
            entry = answer.get("Entries", [{}])[0]
            code = str(entry.get("ErrorCode") or "Failed")
            retryable = code in ("ThrottlingException", "InternalFailure", "InternalException")
            raise DeliveryError(
                f"eventbridge bus {self.event_bus}: {code}: {entry.get('ErrorMessage', '')}",
                retryable=retryable,
            )


def parameter_value(value: Any) -> str:
    """A pipeline parameter value: strings as they are, numbers and booleans as text, lists and
    objects as JSON, None as the empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class SageMakerPipelineSignalTarget(_AwsTarget):
    """StartPipelineExecution with PipelineParameters mapped from the signal's fields."""

    def __init__(
        self,
        name: str,
        client_factory: ClientFactory,
        *,
        pipeline_name: str,
        parameters: Mapping[str, str],
    ) -> None:
        super().__init__(name, client_factory)
        self.pipeline_name = pipeline_name
        self.parameters = dict(parameters)

    def pipeline_parameters(self, signal: Signal) -> list[dict[str, str]]:
        out = []
        for name, path in self.parameters.items():
            value = parameter_value(signal.field(path))
            if len(value) > MAX_PARAMETER_VALUE:
                raise DeliveryError(
                    f"sagemaker pipeline {self.pipeline_name}: parameter {name} ({path}) is "
                    f"{len(value)} characters, above SageMaker's {MAX_PARAMETER_VALUE}",
                    retryable=False,
                )
            out.append({"Name": name, "Value": value})
        return out

    def deliver(self, signal: Signal) -> None:
        self._call(
            f"sagemaker pipeline {self.pipeline_name}",
            "start_pipeline_execution",
            PipelineName=self.pipeline_name,
            PipelineExecutionDisplayName=f"driftstream-{signal.key[:24]}",
            PipelineExecutionDescription=(
                f"driftstream retrain signal {signal.key} for endpoint {signal.endpoint}"
            )[:3072],
            PipelineParameters=self.pipeline_parameters(signal),
            ClientRequestToken=signal.key,
        )
