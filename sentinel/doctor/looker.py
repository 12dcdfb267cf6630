"""`sentinel doctor` for Looker: the API user logs in, each dashboard the looker check names exists, and the user
has the permissions the check's parts need (datagroups, System Activity). The content validator is not run here:
it is the expensive call, and it needs `develop` + `see_lookml`, which the hint names."""

from __future__ import annotations

from collections.abc import Callable

from sentinel.doctor.needs import Need
from sentinel.doctor.report import DoctorLine
from sentinel.errors import SourceError
from sentinel.sources import Sources
from sentinel.sources.looker import PERMISSIONS_HINT

ConfigAt = Callable[[Need], str]
TIMEOUT = 10.0


def probe(sources: Sources, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    if not needs:
        return []
    try:
        looker = sources.looker()
        who = looker.whoami(timeout=TIMEOUT)
    except SourceError as exc:
        return [DoctorLine("problem", "looker", str(exc).split(" (hint:")[0], exc.hint)]
    component = f"looker {looker.base_url}"
    lines = [DoctorLine("ok", component, f"logged in as {who}")]
    for need in needs:
        try:
            if looker.dashboard_exists(need.value, timeout=TIMEOUT):
                lines.append(DoctorLine("ok", component, f"dashboard '{need.value}' exists"))
            else:
                lines.append(DoctorLine("problem", component, f"no dashboard titled '{need.value}' ({need.check_id})",
                                        f"fix the title at {config_at(need)}, or give the API user access to its folder"))
        except SourceError as exc:
            lines.append(DoctorLine("problem", component, str(exc).split(" (hint:")[0], exc.hint))
    parts: list[tuple[str, Callable[[], object]]] = [
        ("datagroups (see_datagroups)", lambda: looker.datagroups(timeout=TIMEOUT)),
        ("System Activity (see_system_activity)", lambda: looker.system_activity(
            "pdt_event_log", ["pdt_event_log.created_time"], {"pdt_event_log.created_time": "1 hours"},
            limit=1, sorts=[], timeout=TIMEOUT)),
    ]
    for what, call in parts:
        try:
            call()
            lines.append(DoctorLine("ok", component, f"{what} readable"))
        except SourceError as exc:
            lines.append(DoctorLine("problem", component, str(exc).split(" (hint:")[0], PERMISSIONS_HINT))
    return lines
