"""The Clarify analysis config that `baseline --bias-config FILE` reads (and the bias-drift watcher
reads back from the baseline folder as `analysis_config.json`).

Only the keys bias drift needs are read; a Clarify config holds many more (`dataset_type`,
`predictor`, `report`, `shap`, ...) and those are ignored, so a config written for a Clarify job
works as it is. The keys read (Clarify's analysis configuration file, SDK `BiasConfig` and
`ModelPredictedLabelConfig`):

- `facet`: a list of `{"name_or_index": column name or 0-based index, "value_or_threshold":
  [values] or [threshold]}`. Without `value_or_threshold`, every value of the column is a facet
  of its own, compared with all other rows.
- `label_values_or_threshold`: the predicted labels that count as positive (or, for a numeric
  output without `probability_threshold`, one threshold: positive above it).
- `probability_threshold`: the model output is a score; above it the predicted label is 1.
- `methods.post_training_bias.methods`: `"all"` or a list of Clarify's short names.
- `group_variable` (for CDDPL), `headers` (names of a header-less CSV's columns), `label`.

Anything unusable raises BiasConfigError, one line naming the file and the key.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from driftstream.detectors.baseline.errors import BaselineError

#: Clarify's post-training bias metrics (short name: description, as analysis.json writes it)
POST_TRAINING_METRICS: dict[str, str] = {
    "AD": "Accuracy Difference (AD)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "DI": "Disparate Impact (DI)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "FT": "Flip Test (FT)",
    "GE": "Generalized Entropy (GE)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "TE": "Treatment Equality (TE)",
}
#: what the predicted labels and the facet give without ground truth or the model itself
#: (CDDPL only with a `group_variable`)
WITHOUT_LABELS: tuple[str, ...] = ("CDDPL", "DI", "DPPL")

Scalar = str | int | float


class BiasConfigError(BaselineError):
    """A bias config (or bias baseline file) that cannot be used; one line naming the key."""


def _as_list(value: Any) -> Any:
    # Clarify takes a single value where a list is meant ("value_or_threshold": 0)
    return value if isinstance(value, list) or value is None else [value]


def _finite(values: list[Scalar] | None) -> list[Scalar] | None:
    for v in values or []:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("values must be finite numbers or strings")
    return values


Values = Annotated[list[Scalar], BeforeValidator(_as_list), Field(min_length=1)]


class FacetConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    name_or_index: str | Annotated[int, Field(ge=0)]
    value_or_threshold: Values | None = None

    _check_values = field_validator("value_or_threshold")(_finite)


class MethodConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    methods: Literal["all"] | list[str] = "all"


class MethodsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    post_training_bias: MethodConfig | None = None
    pre_training_bias: MethodConfig | None = None


class AnalysisConfig(BaseModel):
    """The keys of a Clarify analysis config that bias drift reads (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    facet: list[FacetConfig] = Field(min_length=1)
    label_values_or_threshold: Values
    probability_threshold: float | None = Field(None, allow_inf_nan=False)
    methods: MethodsConfig
    label: str | Annotated[int, Field(ge=0)] | None = None
    group_variable: str | Annotated[int, Field(ge=0)] | None = None
    headers: list[str] | None = None

    _check_labels = field_validator("label_values_or_threshold")(_finite)

    def requested_metrics(self) -> tuple[str, ...]:
        """The post-training metrics asked for, sorted as Clarify sorts them."""
        post = self.methods.post_training_bias
        assert post is not None  # load_bias_config refuses a config without it
        if post.methods == "all":
            return tuple(sorted(POST_TRAINING_METRICS))
        return tuple(sorted(set(post.methods)))


def load_bias_config(path: Path) -> AnalysisConfig:
    """Read and validate FILE; BiasConfigError (one line: file, key, problem) if unusable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BiasConfigError(f"bias config {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BiasConfigError(f"bias config {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BiasConfigError(
            f"bias config {path}: invalid JSON at line {exc.lineno} ({exc.msg})"
        ) from None
    return parse_bias_config(raw, str(path))


def parse_bias_config(raw: object, origin: str) -> AnalysisConfig:
    """`raw` (decoded JSON) validated as an AnalysisConfig; `origin` names it in errors."""
    if not isinstance(raw, dict):
        raise BiasConfigError(f"bias config {origin}: the top level must be a JSON object")
    try:
        config = AnalysisConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        raise BiasConfigError(f"bias config {origin}: {where}: {message}") from None
    post = config.methods.post_training_bias
    if post is None:
        raise BiasConfigError(
            f"bias config {origin}: methods.post_training_bias: missing (the bias-drift "
            'baseline is post-training metrics: {"methods": "all"} or a list such as '
            '["DPPL", "DI"])'
        )
    if isinstance(post.methods, list):
        unknown = [m for m in post.methods if m not in POST_TRAINING_METRICS]
        if unknown or not post.methods:
            raise BiasConfigError(
                f"bias config {origin}: methods.post_training_bias.methods: "
                + (f"unknown metric {unknown[0]!r}" if unknown else "empty list")
                + f"; valid values are {sorted(POST_TRAINING_METRICS)} or 'all'"
            )
    return config
