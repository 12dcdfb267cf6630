"""`sentinel.api` is what plugin authors read: everything it exports, and every public method on it, is documented."""

from __future__ import annotations

import inspect
import typing

import sentinel.api as api


def _undocumented() -> list[str]:
    missing = []
    for name in api.__all__:
        obj = getattr(api, name)
        if typing.get_origin(obj) is typing.Annotated:
            # A type alias cannot carry a docstring; the module docstring's table describes it.
            if f"  {name} " not in (api.__doc__ or ""):
                missing.append(name)
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                if inspect.isfunction(func) and not (func.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    return missing


def test_everything_sentinel_api_exports_has_a_docstring() -> None:
    assert _undocumented() == []


def test_the_check_surface_is_exported() -> None:
    # What docs/plugins.md tells authors to import must be there (the guide's own test runs the example).
    for name in ("Check", "CheckContext", "CheckResult", "Finding", "Params", "SourceError", "Status",
                 "PositiveDuration", "ConnectionName", "format_duration", "target_error", "measured_status"):
        assert name in api.__all__
