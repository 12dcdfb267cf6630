"""Slack via slack-sdk's WebClient (base_url from settings) with its RateLimitErrorRetryHandler.

A new alert posts a Block Kit message; later events edit that message (chat.update) and reply in its thread;
a resolve turns it resolved. The reference stored per message key is the channel and ts of the parent.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome, error_for_status
from sentinel.notify.message import Message
from sentinel.notify.slack_render import fallback_text, render_blocks, reply_blocks, reply_text

# Slack `ok: false` errors worth retrying; everything else (invalid_auth, channel_not_found, invalid_blocks...)
# is a configuration problem that retrying cannot fix.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
                    "team_added_to_org", "rate_limited"}


class SlackNotifier:
    channel: ClassVar[str] = "chat"

    def __init__(self, name: str, token: SecretStr, *, channel: str, base_url: str = "https://slack.com/api/",
                 timeout: int = 10, rate_limit_retries: int = 1) -> None:
        self.name = name
        self.slack_channel = channel
        self._client = WebClient(
            token=token.get_secret_value(), base_url=base_url, timeout=timeout,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)],
        )

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> SlackNotifier:
        unknown = set(options) - {"channel", "timeout_seconds"}
        if unknown:
            raise ValueError(f"slack notifier {name!r}: unknown option(s) {sorted(unknown)}; known: channel, "
                             "timeout_seconds (the token comes from SENTINEL_SLACK_TOKEN, never from the YAML)")
        if settings.slack_token is None:
            raise ValueError(f"slack notifier {name!r} needs SENTINEL_SLACK_TOKEN (or a slack_token secret file)")
        return cls(name, settings.slack_token, channel=str(options.get("channel", settings.slack_channel)),
                   base_url=settings.slack_base_url, timeout=int(options.get("timeout_seconds", 10)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        try:
            if message.is_update and ref:
                parent = json.loads(ref)
                try:
                    self._client.chat_update(channel=parent["channel"], ts=parent["ts"], text=fallback_text(message),
                                             blocks=render_blocks(message))
                except SlackApiError as exc:
                    if _error_code(exc) not in GONE_ERRORS:
                        raise
                    return self._post_new(message)  # the parent was deleted: start a new message
                self._client.chat_postMessage(channel=parent["channel"], thread_ts=parent["ts"],
                                              text=reply_text(message), blocks=reply_blocks(message),
                                              unfurl_links=False, unfurl_media=False, metadata=_metadata(message))
                return SendOutcome(ref=ref)
            return self._post_new(message)
        except SlackApiError as exc:
            raise _classify(exc) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise NotifyError(f"Slack unreachable: {type(exc).__name__}", retryable=True) from None

    def _post_new(self, message: Message) -> SendOutcome:
        response = self._client.chat_postMessage(channel=self.slack_channel, text=fallback_text(message),
                                                 blocks=render_blocks(message), unfurl_links=False,
                                                 unfurl_media=False, metadata=_metadata(message))
        return SendOutcome(ref=json.dumps({"channel": response["channel"], "ts": response["ts"]}))


def _metadata(message: Message) -> dict[str, Any]:
    """The alert key rides along as message metadata, so a resend after a crash is recognisably the same alert."""
    return {"event_type": "sentinel_alert", "event_payload": {"key": message.key, "event": message.event}}


GONE_ERRORS = {"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"}


def _error_code(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error", ""))
    except Exception:
        return ""


def _classify(exc: SlackApiError) -> NotifyError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    retry_after = headers.get("retry-after")
    if isinstance(retry_after, list):
        retry_after = retry_after[0]
    if status != 200:
        return error_for_status("Slack", status, "", retry_after)
    error = ""
    try:
        error = str(response.get("error", ""))
    except Exception:  # a non-JSON body
        error = "unreadable response"
    return NotifyError(f"Slack refused the message: {error}", retryable=error in RETRYABLE_ERRORS)
