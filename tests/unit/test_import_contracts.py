"""The import-linter contracts in pyproject.toml name modules one by one; a module added later must not slip past
them. (CI runs `lint-imports` itself; this test keeps its lists complete.)"""

from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _core_modules() -> set[str]:
    names = {p.stem for p in (ROOT / "sentinel").glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in (ROOT / "sentinel").iterdir() if (p / "__init__.py").exists()}
    return {f"sentinel.{n}" for n in names}


def _contract(starting: str) -> dict[str, object]:
    return next(c for name, c in _contracts().items() if name.startswith(starting))


def test_checks_may_reach_only_the_api_and_the_sources() -> None:
    forbidden = set(_contract("A check imports only")["forbidden_modules"])  # type: ignore[call-overload]
    # sentinel.discovery: the pipeline_coverage check runs the same discovery as `sentinel discover`
    assert forbidden == _core_modules() - {"sentinel.api", "sentinel.sources", "sentinel.discovery"}


def test_model_clock_and_errors_stay_leaves() -> None:
    forbidden = set(_contract("model, clock and errors")["forbidden_modules"])  # type: ignore[call-overload]
    assert forbidden == _core_modules() - {"sentinel.model", "sentinel.clock", "sentinel.errors"}


def test_every_check_kind_is_in_the_independence_contract() -> None:
    kinds = {ep.value.split(":")[0] for ep in entry_points(group="sentinel.checks") if ep.value.startswith("sentinel_checks.")}
    public = {f"sentinel_checks.{p.stem}" for p in (ROOT / "checks").glob("*.py") if not p.stem.startswith("_")}
    listed = set(_contract("Check kinds do not import each other")["modules"])  # type: ignore[call-overload]
    assert kinds == public == listed, "a check module is either a registered kind or a private checks/_helper.py"
