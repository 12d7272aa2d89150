"""boto3 clients made from the `aws` config section, and what their errors mean to us.

Shared by the AWS sources (Kinesis, S3) and sinks (CloudWatch, signal targets); it lives in
`sinks`, the lower of the two layers, so that sinks never import `streamer`.

Credentials and region follow boto3's own chain (environment, shared config and credentials
files, SSO, container and instance roles); `aws.region`, `aws.profile` and `aws.endpoint_url`
only add to it. Nothing here logs or formats a credential.

Errors fall in three groups, decided once here for every AWS component:
- fatal: the configuration is wrong (no credentials, access denied, unknown stream, bucket,
  topic or pipeline). Raised as AwsError: the CLI prints one line and exits 2;
- throttled: the service asks us to slow down; back off and retry;
- transient: the network or the service failed; back off and retry.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field, field_validator

USER_AGENT = "driftstream/0.1"

FATAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",  # SNS
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "NoSuchBucket",
        "NotFound",  # SNS topic
        "NotFoundException",
        "ResourceNotFound",  # SageMaker
        "ResourceNotFoundException",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "ValidationError",
        "ValidationException",
        "InvalidParameterException",  # SNS
        "InvalidParameterValue",  # CloudWatch
        "InvalidParameterValueException",
        "InvalidArgumentException",  # Kinesis
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
    }
)
THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "KMSThrottlingException",
        "RequestThrottled",
        "RequestThrottledException",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AwsSettings(_Frozen):
    """How boto3 clients are made. Credentials always come from boto3's own chain (environment,
    shared files, SSO, container or instance role); these keys only add to it."""

    region: str | None = Field(None, min_length=1, description="None: boto3's chain")
    endpoint_url: str | None = Field(None, description="a VPC endpoint, LocalStack, moto...")
    profile: str | None = Field(None, min_length=1, description="a named profile of ~/.aws")
    connect_timeout_seconds: float = Field(5.0, gt=0, le=300)
    read_timeout_seconds: float = Field(30.0, gt=0, le=900)
    max_attempts: int = Field(3, ge=1, le=20, description="botocore's retries within one call")

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class AwsError(ValueError):
    """An AWS call failed in a way retrying cannot fix; the message is one line."""


def client(service: str, settings: AwsSettings, **config: Any) -> Any:
    """A boto3 client for `service` (typed Any: boto3 has no stubs installed here).

    `config` overrides botocore.config.Config fields (timeouts, retries) for this client.
    """
    import boto3  # 0.16 s: only for the commands that talk to AWS
    import botocore.config

    options: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout_seconds,
        "read_timeout": settings.read_timeout_seconds,
        "retries": {"mode": "standard", "max_attempts": settings.max_attempts},
        "user_agent_extra": USER_AGENT,
    }
    options.update(config)
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        return session.client(
            service,
            endpoint_url=settings.endpoint_url,
            config=botocore.config.Config(**options),
        )
    except botocore.exceptions.ProfileNotFound:
        raise AwsError(f"aws.profile: profile {settings.profile!r} is not configured") from None
    except botocore.exceptions.NoRegionError:
        raise AwsError(
            "aws.region: no AWS region configured (set aws.region, AWS_REGION or a profile's "
            "region)"
        ) from None


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def is_fatal(exc: BaseException) -> bool:
    """Retrying cannot help: credentials, permissions, unknown resources, invalid requests."""
    if isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.ParamValidationError
        | botocore.exceptions.NoRegionError
        | botocore.exceptions.ProfileNotFound,
    ):
        return True
    code = error_code(exc)
    if code is None:
        return False
    if code in FATAL_CODES:
        return True
    status = http_status(exc)
    return (
        code not in THROTTLE_CODES
        and status is not None
        and 400 <= status < 500
        and (status not in (408, 429))
    )


def is_throttle(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLE_CODES or http_status(exc) == 429


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a 5xx answer, or no answer at all (connection refused, reset, timed out)."""
    if isinstance(exc, botocore.exceptions.BotoCoreError | OSError):
        return not is_fatal(exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        return not is_fatal(exc)
    return False


def describe(exc: BaseException) -> str:
    """One line naming the error without secrets (AWS messages name resources, not keys)."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials found (boto3 looks in the environment, ~/.aws, SSO and the "
            "instance or container role)"
        )
    code = error_code(exc)
    if code is not None and isinstance(exc, botocore.exceptions.ClientError):
        message = str(exc.response.get("Error", {}).get("Message") or "").strip()
        first = message.splitlines()[0] if message else ""
        return f"{code}: {first}" if first else code
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fatal(what: str, exc: BaseException) -> AwsError:
    """The AwsError to raise for a fatal failure of `what` (e.g. "kinesis stream 'x'")."""
    return AwsError(f"{what}: {describe(exc)}")
