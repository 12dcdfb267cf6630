"""Optional features and the extra of the sentinel-monitor distribution that installs each.

The core (scheduling, judging, alerting, /metrics, PostgreSQL) is always there; a system's client library comes
with its extra. When one is missing the answer names the extra to install, not the module that failed to import.
"""

from __future__ import annotations

import importlib.util

from sentinel.errors import SourceError

DISTRIBUTION = "sentinel-monitor"

# extra -> (what needs it, the importable modules it provides). Kept in step with pyproject.toml by
# tests/unit/test_packaging.py.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kafka": ("Kafka checks", ("confluent_kafka", "numpy")),
    "snowflake": ("Snowflake checks", ("snowflake.connector",)),
    "s3": ("S3 lake checks", ("boto3", "pyarrow")),
    "dbt": ("dbt and DuckDB checks", ("duckdb", "boto3")),
    "looker": ("Looker checks", ("looker_sdk",)),
    "report": ("the weekly SLA report", ("jinja2", "matplotlib", "numpy")),
}


class MissingExtraError(SourceError):
    """An optional feature is used but its extra is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        what = EXTRAS[extra][0]
        super().__init__(f"the optional package {module!r} is not installed (needed by {what})",
                         hint=f"install the [{extra}] extra: {install_hint(extra)}")


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package of a dotted name is missing
        return False


def require(extra: str) -> None:
    """Raise MissingExtraError when a module of `extra` cannot be imported. Cheap: nothing is imported."""
    for module in EXTRAS[extra][1]:
        if not _importable(module):
            raise MissingExtraError(extra, module)


def extra_for_module(name: str) -> str | None:
    """The extra that provides the (possibly dotted) module `name`, for an ImportError raised elsewhere."""
    top = name.split(".", maxsplit=1)[0]
    for extra, (_, modules) in EXTRAS.items():
        if any(m.split(".")[0] == top for m in modules):
            return extra
    return None
