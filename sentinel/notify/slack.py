"""Slack via slack-sdk's WebClient (base_url from settings), with the SDK's own retries off.

A new alert posts a Block Kit message; later events edit that message (chat.update) and reply in its thread;
a resolve turns it resolved. The reference stored per message key is the channel and ts of the parent.

Every message carries its alert key and delivery id as message metadata. When the outbox says an earlier attempt
may have reached Slack (`message.resend`: a crash or a timeout after chat.postMessage left), the channel's recent
history is searched for a message with this delivery id first, and that message is edited instead of posting a
second parent that would stay CRITICAL forever. This needs the channels:history (or groups:history) scope, and
channels:read to turn a channel name into its id.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome, error_for_status
from sentinel.notify.message import Message
from sentinel.notify.slack_render import fallback_text, render_blocks, reply_blocks, reply_text

# Slack `ok: false` errors worth retrying; everything else (invalid_auth, channel_not_found, invalid_blocks...)
# is a configuration problem that retrying cannot fix.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
                    "team_added_to_org", "rate_limited"}
METADATA_TYPE = "sentinel_alert"
HISTORY_PAGES = 3  # 600 most recent parents: a crash is recovered within minutes, not after a day of traffic
DEFAULT_TIMEOUT = 30  # Slack answers in well under a second; a slow answer past this may still have posted


class SlackNotifier:
    channel: ClassVar[str] = "chat"

    def __init__(self, name: str, token: SecretStr, *, channel: str, base_url: str = "https://slack.com/api/",
                 timeout: int = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.slack_channel = channel
        self._channel_id: str | None = channel if _looks_like_id(channel) else None
        # No retry handlers: a 429 is the outbox's to reschedule (after Retry-After) without holding this queue
        # in a sleep, and a repeated chat.postMessage after a connection error could post twice.
        self._client = WebClient(token=token.get_secret_value(), base_url=base_url, timeout=timeout,
                                 retry_handlers=[])

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> SlackNotifier:
        unknown = set(options) - {"channel", "timeout_seconds"}
        if unknown:
            raise ValueError(f"slack notifier {name!r}: unknown option(s) {sorted(unknown)}; known: channel, "
                             "timeout_seconds (the token comes from SENTINEL_SLACK_TOKEN, never from the YAML)")
        if settings.slack_token is None:
            raise ValueError(f"slack notifier {name!r} needs SENTINEL_SLACK_TOKEN (or a slack_token secret file)")
        return cls(name, settings.slack_token, channel=str(options.get("channel", settings.slack_channel)),
                   base_url=settings.slack_base_url, timeout=int(options.get("timeout_seconds", DEFAULT_TIMEOUT)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        try:
            if message.is_update and ref:
                parent = json.loads(ref)
                try:
                    self._client.chat_update(channel=parent["channel"], ts=parent["ts"], text=fallback_text(message),
                                             blocks=render_blocks(message), metadata=_metadata(message))
                except SlackApiError as exc:
                    if _error_code(exc) not in GONE_ERRORS:
                        raise
                    return self._post_new(message)  # the parent was deleted: start a new message
                if not message.resend or not self._already_replied(parent, message):
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
        earlier = self._find_earlier_post(message) if message.resend else None
        if earlier is not None:  # our previous attempt did post: bring that message up to date instead
            channel, ts = earlier
            self._client.chat_update(channel=channel, ts=ts, text=fallback_text(message),
                                     blocks=render_blocks(message), metadata=_metadata(message))
            return SendOutcome(ref=json.dumps({"channel": channel, "ts": ts}), detail="adopted an earlier post")
        response = self._client.chat_postMessage(channel=self.slack_channel, text=fallback_text(message),
                                                 blocks=render_blocks(message), unfurl_links=False,
                                                 unfurl_media=False, metadata=_metadata(message))
        self._channel_id = self._channel_id or str(response["channel"])
        return SendOutcome(ref=json.dumps({"channel": response["channel"], "ts": response["ts"]}))

    def _find_earlier_post(self, message: Message) -> tuple[str, str] | None:
        """(channel id, ts) of a top-level message this delivery already posted, searched newest first."""
        if not message.delivery_id:
            return None
        channel = self._resolve_channel()
        for item in self._history(channel, parent_ts=None):
            if _delivery_of(item) == message.delivery_id:
                return channel, str(item["ts"])
        return None

    def _already_replied(self, parent: Mapping[str, str], message: Message) -> bool:
        """Whether this delivery's thread reply is already in the thread (a resend of a follow-up)."""
        if not message.delivery_id:
            return False
        return any(_delivery_of(item) == message.delivery_id
                   for item in self._history(parent["channel"], parent_ts=parent["ts"]))

    def _history(self, channel: str, parent_ts: str | None) -> Iterator[Mapping[str, Any]]:
        cursor = None
        for _ in range(HISTORY_PAGES):
            if parent_ts is None:
                page = self._client.conversations_history(channel=channel, limit=200, include_all_metadata=True,
                                                          cursor=cursor)
            else:
                page = self._client.conversations_replies(channel=channel, ts=parent_ts, limit=200,
                                                          include_all_metadata=True, cursor=cursor)
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _resolve_channel(self) -> str:
        if self._channel_id is not None:
            return self._channel_id
        wanted = self.slack_channel.lstrip("#")
        cursor = None
        while True:
            page = self._client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                   limit=200, cursor=cursor)
            for ch in page.get("channels") or []:
                if ch.get("name") == wanted:
                    self._channel_id = str(ch["id"])
                    return self._channel_id
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                raise NotifyError(f"Slack channel {self.slack_channel} is not visible to the bot (channels:read)",
                                  retryable=False)


def _looks_like_id(channel: str) -> bool:
    return channel[:1] in ("C", "G") and channel.isalnum() and channel.isupper()


def _delivery_of(item: Mapping[str, Any]) -> str | None:
    metadata = item.get("metadata") or {}
    if metadata.get("event_type") != METADATA_TYPE:
        return None
    payload = metadata.get("event_payload") or {}
    return str(payload.get("delivery_id") or "") or None


def _metadata(message: Message) -> dict[str, Any]:
    """The alert key rides along as message metadata, so a resend after a crash is recognisably the same alert."""
    return {"event_type": METADATA_TYPE, "event_payload": {"key": message.key, "event": message.event,
                                                           "delivery_id": message.delivery_id}}


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
