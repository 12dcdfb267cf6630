"""What is wrong with the environment and the secrets directory, said so that it can be fixed.

Every message names the SENTINEL_* variable or the secret file and what is expected. Values are never repeated:
any setting may hold a secret, and a message goes to logs and terminals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sentinel.plugins import suggest

PREFIX = "SENTINEL_"
# SENTINEL_* variables read by something other than Settings: the secrets directory itself, the runbooks
# directory, and the development tools (devstack, benchmarks, docs refresh, bootstrap).
OTHER_VARIABLES = frozenset({
    "SENTINEL_SECRETS_DIR", "SENTINEL_RUNBOOKS_DIR", "SENTINEL_DEVSTACK_CACHE", "SENTINEL_KAFKA_VERSION",
    "SENTINEL_JAVA", "SENTINEL_NEED_BROWSER", "SENTINEL_UPDATE_DOCS", "SENTINEL_BENCH_IDLE_SECONDS",
})
# Kubernetes injects these for a Service named "sentinel" (SENTINEL_SERVICE_HOST, SENTINEL_PORT_9108_TCP_ADDR, ...).
_SERVICE_LINK = re.compile(r"SENTINEL_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)")
_EXPECTED = {
    "int_parsing": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "time_delta_parsing": "a duration such as '35d', '12h' or '30m', a number of seconds, or ISO 8601 ('P35D')",
    "dict_type": "a JSON object",
    "url_parsing": "a URL",
}


def unknown_variables(environ: Mapping[str, str], fields: Iterable[str]) -> list[str]:
    """SENTINEL_* variables that nothing reads: most likely typos (SENTINEL_SLACK_TOKN means no Slack at all)."""
    known = sorted({PREFIX + f.upper() for f in fields} | OTHER_VARIABLES)
    known_set = set(known)
    problems = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings matches names case-insensitively
        if upper.startswith(PREFIX) and upper not in known_set and not _SERVICE_LINK.fullmatch(upper):
            problems.append(f"{name}: unknown variable, so it is ignored{suggest(upper, known)}; "
                            "unset it or fix its name (README: Configuration lists the settings)")
    return problems


def unknown_secret_files(directory: Path, fields: Iterable[str]) -> list[str]:
    """Files in the secrets directory that set nothing, like an unknown variable."""
    names = sorted(fields)
    known = set(names)
    problems = []
    for path in sorted(directory.iterdir()):
        # Kubernetes keeps its bookkeeping in hidden entries (..data, ..2026_11_30...).
        if path.name.startswith(".") or path.name.lower() in known:
            continue
        problems.append(f"secret file {path}: no setting is called {path.name!r}{suggest(path.name.lower(), names)}; "
                        "rename or remove it")
    return problems


def secrets_dir_problem(directory: Path, explicitly_set: bool) -> str | None:
    if explicitly_set and directory.exists() and not directory.is_dir():
        return f"SENTINEL_SECRETS_DIR: {directory} is not a directory; point it at the folder of secret files"
    return None


def where(field: str, environ: Mapping[str, str], secrets_dir: Path | None, overrides: Mapping[str, Any]) -> str:
    """The variable, option or file a field's value came from."""
    variable = PREFIX + field.upper()
    if field in overrides:
        return f"--{field.removesuffix('_file').removesuffix('_path').replace('_', '-')} option"
    if any(name.upper() == variable for name in environ):
        return variable
    if secrets_dir is not None and (secrets_dir / field).exists():
        return f"secret file {secrets_dir / field}"
    return variable


def validation_problems(exc: ValidationError, describe: Any) -> list[str]:
    """One line per invalid setting: where it came from, what is wrong, what is expected."""
    out = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        expected = _EXPECTED.get(err["type"])
        message = err["msg"].removeprefix("Value error, ")
        if expected and expected not in message:
            message += f"; expected {expected}"
        out.append(f"{describe(field)}: {message}")
    return out


_PARSE_ERROR = re.compile(r'error parsing value for field "(\w+)" from source "(\w+)"')


def parse_problem(exc: Exception, describe: Any) -> str:
    """pydantic-settings' SettingsError: a complex value (dict, list) that is not valid JSON."""
    match = _PARSE_ERROR.search(str(exc))
    field = match.group(1) if match else "?"
    cause = exc.__cause__
    # json's message says where the JSON breaks ("line 1 column 37") without quoting the value.
    detail = f" ({cause})" if cause is not None and type(cause).__name__ == "JSONDecodeError" else ""
    return (f"{describe(field)}: not valid JSON{detail}; expected a JSON object such as "
            '\'{"replica": "postgresql://user@host/db"}\'')
