"""`sentinel doctor` for where alerts go: Slack (token, bot, channel membership), the pager, SMTP login.
Nothing is posted, paged or mailed."""

from __future__ import annotations

import smtplib
import ssl

from sentinel.config.settings import Settings
from sentinel.doctor.report import DoctorLine

_PAGER_KEYS = {"opsgenie": "opsgenie_api_key", "jsm": "jsm_api_key", "pagerduty": "pagerduty_routing_key"}


def probe_slack(settings: Settings, wanted: bool) -> list[DoctorLine]:
    if settings.slack_token is None:
        return [DoctorLine("problem", "slack", "a route sends to slack but no token is set",
                           "put the bot token in SENTINEL_SLACK_TOKEN or the slack_token secret file")] if wanted else []
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=settings.slack_token.get_secret_value(), base_url=settings.slack_base_url, timeout=10)
    try:
        auth = client.auth_test()
        channel = settings.slack_channel
        found = _find_channel(client, channel.lstrip("#"))
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown") if exc.response is not None else "unknown"
        fix = ("the token is wrong or revoked: set a valid bot token (xoxb-...) in the slack_token secret"
               if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive")
               else "add the channels:read and groups:read scopes to the Slack app" if error == "missing_scope"
               else "see https://api.slack.com/methods for this error")
        return [DoctorLine("problem", "slack", f"Slack API error: {error}", fix)]
    except OSError as exc:
        return [DoctorLine("problem", "slack", f"Slack API unreachable at {settings.slack_base_url}: "
                           f"{type(exc).__name__}", "check egress to slack.com (proxy, network policy)")]
    lines = [DoctorLine("ok", "slack", f"token valid: bot {auth.get('user')} in workspace {auth.get('team')}")]
    if found is None:
        lines.append(DoctorLine("problem", "slack", f"channel {channel} not found",
                                "create it or set SENTINEL_SLACK_CHANNEL to an existing channel"))
    elif not found.get("is_member"):
        lines.append(DoctorLine("problem", "slack", f"the bot is not a member of {channel}",
                                f"in Slack: /invite @{auth.get('user')} in {channel}"))
    else:
        lines.append(DoctorLine("ok", "slack", f"bot is a member of {channel}"))
    return lines


def _find_channel(client: object, name: str) -> dict[str, object] | None:
    from slack_sdk import WebClient

    assert isinstance(client, WebClient)
    cursor = None
    for _ in range(50):  # 50 pages of 200: a workspace with more channels should set the channel id instead
        page = client.conversations_list(types="public_channel,private_channel", exclude_archived=True, limit=200,
                                         cursor=cursor)
        channels: list[dict[str, object]] = page.get("channels", [])
        for ch in channels:
            if ch.get("name") == name or ch.get("id") == name:
                return dict(ch)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return None


def probe_pager(settings: Settings, wanted: bool) -> list[DoctorLine]:
    backend = settings.pager_backend
    if backend == "none":
        return [DoctorLine("problem", "pager", "a route pages but SENTINEL_PAGER_BACKEND is none",
                           "set SENTINEL_PAGER_BACKEND=opsgenie|jsm|pagerduty and its key")] if wanted else []
    key = _PAGER_KEYS[backend]
    if getattr(settings, key) is None:
        return [DoctorLine("problem", "pager", f"{backend} has no key", f"put it in SENTINEL_{key.upper()} or the "
                           f"{key} secret file")]
    # Verifying the key would need an API call that can create an alert; `sentinel notify-test --route page` does
    # that deliberately.
    return [DoctorLine("ok", "pager", f"{backend} key is set (not sent: prove it with notify-test --route page)")]


def probe_smtp(settings: Settings, wanted: bool) -> list[DoctorLine]:
    if not settings.smtp_host:
        return [DoctorLine("problem", "smtp", "the weekly report has recipients but SENTINEL_SMTP_HOST is unset",
                           "set SENTINEL_SMTP_HOST/_PORT/_USERNAME and the smtp_password secret")] if wanted else []
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(
                    cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None))
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except smtplib.SMTPAuthenticationError:
        return [DoctorLine("problem", "smtp", f"{where} rejected the login of {settings.smtp_username}",
                           "check SENTINEL_SMTP_USERNAME and the smtp_password secret")]
    except (OSError, smtplib.SMTPException) as exc:
        return [DoctorLine("problem", "smtp", f"{where}: {type(exc).__name__}: {str(exc)[:120]}",
                           "check SENTINEL_SMTP_HOST/_PORT, STARTTLS and SENTINEL_SMTP_CA_FILE")]
    return [DoctorLine("ok", "smtp", f"{where} accepted STARTTLS and login (nothing sent)")]
