"""Dead man's switch: after each healthy scheduling cycle Sentinel pings a pager heartbeat, so on-call is paged
when Sentinel itself dies or stops ticking.

Backends:
  Opsgenie   SENTINEL_PAGER_BACKEND=opsgenie + SENTINEL_HEARTBEAT_NAME: opsgenie-sdk's HeartbeatApi.ping
             (`GET {opsgenie}/v2/heartbeats/{name}/ping` with the GenieKey), its retries off like the alert client's.
  any URL    SENTINEL_HEARTBEAT_URL (+ SENTINEL_HEARTBEAT_BASIC_AUTH=user:token): e.g. JSM operations
             `https://api.atlassian.com/jsm/ops/api/{cloudId}/v1/teams/{teamId}/heartbeats/ping?name=sentinel`
             (basic auth with an Atlassian API token), or a healthchecks-style URL. Hand-written: JSM's team
             heartbeat API is not the Opsgenie protocol (other path, basic auth) and no maintained client has it.
A failed ping is logged and reported as False; it never raises into the scheduler. sentinel.compose_root picks
the backend from the settings (build_heartbeat).
"""

from __future__ import annotations

import logging

import requests
from pydantic import SecretStr

from sentinel.notify.genie import CONNECT_TIMEOUT, genie_configuration

log = logging.getLogger(__name__)


class HeartbeatPinger:
    def __init__(self, url: str, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                 timeout: float = 5.0) -> None:
        self.url = url
        self._headers = headers or {}
        self._auth = auth
        self.timeout = timeout
        self._session = requests.Session()

    def ping(self) -> bool:
        try:
            response = self._session.get(self.url, headers=self._headers, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("heartbeat ping failed: %s", type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.warning("heartbeat ping answered HTTP %d", response.status_code)
            return False
        return True


class OpsgenieHeartbeat:
    """Opsgenie heartbeat ping through opsgenie-sdk's HeartbeatApi."""

    def __init__(self, name: str, api_key: SecretStr, base_url: str, timeout: float = 5.0) -> None:
        import opsgenie_sdk

        self.name = name
        self.timeout = timeout
        self._api = opsgenie_sdk.HeartbeatApi(api_client=opsgenie_sdk.ApiClient(
            configuration=genie_configuration(base_url, api_key)))

    def ping(self) -> bool:
        try:
            self._api.ping(self.name, _request_timeout=(CONNECT_TIMEOUT, self.timeout))
        except Exception as exc:  # any failure is "not pinged"; the pager pages when pings stop
            log.warning("heartbeat ping failed: %s", type(exc).__name__)
            return False
        return True
