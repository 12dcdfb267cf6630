"""pyproject.toml keeps up with the code: every package folder is shipped, every extra that sentinel/extras.py names
exists and installs the modules it promises, and every dependency has both bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sentinel.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# import name -> distribution name, for the modules EXTRAS lists
DISTRIBUTION_OF = {"confluent_kafka": "confluent-kafka", "numpy": "numpy", "snowflake.connector": "snowflake-connector-python",
                   "boto3": "boto3", "pyarrow": "pyarrow", "duckdb": "duckdb", "looker_sdk": "looker-sdk",
                   "jinja2": "jinja2", "matplotlib": "matplotlib"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def test_every_package_folder_is_listed() -> None:
    setuptools = PROJECT["tool"]["setuptools"]
    mapped = setuptools.get("package-dir", {})
    folders = {".".join(p.parent.relative_to(ROOT).parts) for top in ("sentinel", "checks")
               for p in (ROOT / top).rglob("__init__.py")}

    def installed_as(folder: str) -> str:
        """The package name a folder installs as, through package-dir (checks/ may install under another name)."""
        for package, mapped_folder in mapped.items():
            dotted = mapped_folder.replace("/", ".")
            if folder == dotted or folder.startswith(dotted + "."):
                return package + folder[len(dotted):]
        return folder

    assert set(setuptools["packages"]) == {installed_as(f) for f in folders} | set(mapped)
    for package, folder in mapped.items():
        assert (ROOT / folder).is_dir(), f"{package} maps to a missing folder {folder}"


def test_each_extra_installs_what_its_missing_message_promises() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    for extra, (_what, modules) in EXTRAS.items():
        names = {_name(r) for r in extras[extra]}
        for module in modules:
            assert DISTRIBUTION_OF[module] in names, f"[{extra}] does not install {module}"
    everything = {_name(r) for e in EXTRAS for r in extras[e]}
    core = {_name(r) for r in PROJECT["project"]["dependencies"]}
    assert not everything & core, "a dependency is both core and optional"
    assert extras["all"] == [f"sentinel-monitor[{','.join(EXTRAS)}]"]


def test_every_requirement_has_a_lower_and_an_upper_bound() -> None:
    groups = {"dependencies": PROJECT["project"]["dependencies"], **PROJECT["project"]["optional-dependencies"]}
    for group, requirements in groups.items():
        for r in requirements:
            if r.startswith("sentinel-monitor[") or "==" in r:
                continue
            assert ">=" in r and "<" in r.replace("<=", ""), f"{group}: {r} needs a lower and an upper bound"


def test_dev_tools_are_split_into_test_lint_and_bench() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    assert "dev" not in extras
    assert "pytest" in {_name(r) for r in extras["test"]}
    assert {"ruff", "mypy", "import-linter"} <= {_name(r) for r in extras["lint"]}
    assert "reladiff" in {_name(r) for r in extras["bench"]}
