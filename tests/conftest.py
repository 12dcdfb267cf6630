"""Loads every fixture plugin in tests/plugins/ (one module per real component), so areas add fixtures
without editing a shared file."""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.plugins.{p.stem}" for p in (Path(__file__).parent / "plugins").glob("*.py") if p.stem != "__init__"
)
