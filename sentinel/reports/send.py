"""The report as a multipart email and its transports.

    multipart/alternative
      text/plain                      the plain-text report
      multipart/related
        text/html                     <img src="cid:..."> for each chart
        image/png (Content-ID) ...    one chart per SLA

Headers go through email.message.EmailMessage's header registry, which refuses CR/LF injection; addresses come
from config (validated) and the subject template only knows {week} and {headline}.
SMTP: STARTTLS with certificate verification (SENTINEL_SMTP_CA_FILE for a private CA) and login when configured.
SES: boto3 send_raw_email with standard retries and connect/read timeouts.
"""

from __future__ import annotations

import secrets
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sentinel.errors import NotifyError
from sentinel.reports.model import WeeklyReport
from sentinel.reports.render import render_html, render_text


def subject_for(report: WeeklyReport, template: str) -> str:
    text = template.replace("{week}", report.week).replace("{headline}", report.headline)
    return " ".join(text.split())[:200]  # no line breaks, whatever the config says


def build_email(report: WeeklyReport, spec: Any, settings: Any) -> EmailMessage:
    if not spec.to:
        raise NotifyError("the weekly report has no recipients: set report.to in alert_rules.yaml", retryable=False)
    msg = EmailMessage()
    msg["Subject"] = subject_for(report, spec.subject)
    msg["From"] = spec.sender or settings.smtp_from
    msg["To"] = ", ".join(spec.to)
    if spec.cc:
        msg["Cc"] = ", ".join(spec.cc)
    msg["Date"] = formatdate(report.generated_at.timestamp(), usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=f"sla-report-{report.week}", domain="sentinel.novapay")
    msg["X-Sentinel-Report"] = report.week
    cids = chart_content_ids(report.charts)
    msg.set_content(render_text(report))
    msg.add_alternative(render_html(report, image_src=lambda sla_id: "cid:" + cids[sla_id][1:-1]), subtype="html")
    html_part: Any = msg.get_payload()[1]  # type: ignore[index]
    for sla_id, png in report.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=cids[sla_id], filename=f"{sla_id}.png",
                              disposition="inline")
    return msg


def chart_content_ids(charts: Iterable[str]) -> dict[str, str]:
    """Short ASCII Content-IDs, one per chart. A Content-ID past ~78 characters (the SLA id in it, the host name
    make_msgid adds) is folded by the email package into RFC 2047 encoded-words, which mail clients do not match
    against `cid:` (CPython #79986 fixed that for Message-ID only): so no SLA id and no host name, just a
    random token (unique across reports) and the chart's position, about 30 characters."""
    token = secrets.token_hex(6)
    return {sla_id: f"<c{i}.{token}@sentinel>" for i, sla_id in enumerate(charts)}


def recipients(msg: EmailMessage) -> list[str]:
    from email.utils import getaddresses

    return [addr for _, addr in getaddresses([*msg.get_all("To", []), *msg.get_all("Cc", [])]) if addr]


def send_smtp(msg: EmailMessage, settings: Any) -> str:
    if not settings.smtp_host:
        raise NotifyError("SENTINEL_SMTP_HOST is not set: cannot send the weekly report", retryable=False)
    host, port = settings.smtp_host, settings.smtp_port
    try:
        with smtplib.SMTP(host, port, timeout=settings.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                context = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_username and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(msg)
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise NotifyError(f"SMTP {host}:{port} refused the report: {type(exc).__name__}", retryable=False) from None
    except ssl.SSLError as exc:
        raise NotifyError(f"SMTP {host}:{port} STARTTLS failed: {exc.reason or type(exc).__name__}"
                          " (SENTINEL_SMTP_CA_FILE for a private CA)", retryable=False) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"SMTP {host}:{port} failed: {type(exc).__name__}", retryable=True) from None
    if refused:
        return f"smtp: sent, refused by {len(refused)} recipient(s): {', '.join(sorted(refused))}"
    return f"smtp: sent to {len(recipients(msg))} recipient(s) via {host}:{port}"


def send_ses(msg: EmailMessage, settings: Any) -> str:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    creds: dict[str, str] = {}
    if settings.aws_access_key_id is not None and settings.aws_secret_access_key is not None:
        creds = {"aws_access_key_id": settings.aws_access_key_id.get_secret_value(),
                 "aws_secret_access_key": settings.aws_secret_access_key.get_secret_value()}
    options: dict[str, Any] = {
        "region_name": settings.aws_region, "endpoint_url": settings.aws_endpoint_url, **creds,
        "config": Config(retries={"mode": "standard", "max_attempts": 3},
                         connect_timeout=settings.aws_connect_timeout_seconds,
                         read_timeout=settings.aws_read_timeout_seconds),
    }
    client: Any = boto3.client("ses", **options)
    try:
        out = client.send_raw_email(Source=str(msg["From"]), Destinations=recipients(msg),
                                    RawMessage={"Data": msg.as_bytes()})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise NotifyError(f"SES refused the report: {code}", retryable=code in ("Throttling", "ServiceUnavailable")) \
            from None
    except BotoCoreError as exc:
        raise NotifyError(f"SES call failed: {type(exc).__name__}", retryable=True) from None
    return f"ses: MessageId {out.get('MessageId', '?')}"


def send(msg: EmailMessage, transport: str, settings: Any) -> str:
    return send_ses(msg, settings) if transport == "ses" else send_smtp(msg, settings)
