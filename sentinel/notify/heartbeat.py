"""Dead man's switch: after each healthy scheduling cycle Sentinel pings a pager heartbeat, so on-call is paged
when Sentinel itself dies or stops ticking.

Backends: Opsgenie (`/v2/heartbeats/{name}/ping`, GenieKey), JSM ops (same path on the integration API base,
GenieKey) or any URL (`SENTINEL_HEARTBEAT_URL`, e.g. a healthchecks endpoint). A failed ping is logged and
reported as False; it never raises into the scheduler.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests

from sentinel.config.settings import Settings

log = logging.getLogger(__name__)


class HeartbeatPinger:
    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self._headers = headers or {}
        self.timeout = timeout
        self._session = requests.Session()

    def ping(self) -> bool:
        try:
            response = self._session.post(self.url, headers=self._headers, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("heartbeat ping failed: %s", type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.warning("heartbeat ping answered HTTP %d", response.status_code)
            return False
        return True


def heartbeat_from_settings(settings: Settings) -> HeartbeatPinger | None:
    url = getattr(settings, "heartbeat_url", None)
    if url:
        return HeartbeatPinger(url)
    name = settings.heartbeat_name
    if not name:
        return None
    if settings.pager_backend == "opsgenie" and settings.opsgenie_api_key is not None:
        base, key = settings.opsgenie_base_url, settings.opsgenie_api_key
    elif settings.pager_backend == "jsm" and settings.jsm_api_key is not None:
        base, key = settings.jsm_base_url, settings.jsm_api_key
    else:
        log.warning("SENTINEL_HEARTBEAT_NAME is set but no Opsgenie/JSM key is configured: no dead man's switch")
        return None
    url = f"{base.rstrip('/')}/v2/heartbeats/{quote(name, safe='')}/ping"
    return HeartbeatPinger(url, {"Authorization": f"GenieKey {key.get_secret_value()}"})
