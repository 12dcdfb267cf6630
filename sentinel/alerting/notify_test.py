"""`sentinel notify-test --route NAME`: a test message straight to every receiver of a route, past the outbox,
so a broken integration is found before an incident needs it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sentinel.alerting.pipeline import AlertPipeline
from sentinel.model import Severity
from sentinel.notify.message import Message, MessageEvent, PageAction


def notify_test(pipeline: AlertPipeline, route_name: str) -> list[tuple[str, bool, str]]:
    """Send a test message straight to every receiver of a route (pagers: trigger, then resolve at once).
    Returns (receiver, ok, detail) per receiver; deliveries are recorded like any other."""
    from sentinel.alerting.types import Delivery, DeliveryStatus
    from sentinel.errors import NotifyError
    from sentinel.notify.message import AlertLine, runbook_url

    route = pipeline.router.by_name.get(route_name)
    if route is None:
        raise KeyError(f"no route named {route_name!r}; routes: {', '.join(sorted(pipeline.router.by_name))}")
    now = pipeline.clock.now()
    key = f"sentinel-test-{route_name}"
    line = AlertLine(
        fingerprint=key, rule_id="notify_test", check_id="notify_test", severity="warning", phase="firing",
        summary=f"Test notification for route {route_name}: if you read this, delivery works. No action needed.",
        runbook="check-broken", runbook_url=runbook_url(pipeline.settings.runbook_base_url, "check-broken"), since=now,
    )
    message = Message(key=key, route=route_name, event=MessageEvent.TEST, is_update=False, severity=Severity.WARNING,
                      title=f"TEST from Sentinel: route {route_name}", created_at=now, alerts=(line,),
                      page_action=PageAction.TRIGGER,
                      notes=("This is a test sent by `sentinel notify-test`; pages close at once.",))
    out = []
    for receiver in route.receivers:
        notifier = pipeline.notifiers[receiver]
        started = pipeline.clock.monotonic()
        try:
            outcome = notifier.send(message, None)
            if getattr(notifier, "channel", "") == "pager":
                notifier.send(replace(message, is_update=True, page_action=PageAction.RESOLVE, resolved=True), outcome.ref)
            ok, detail, status = True, outcome.detail or "sent", DeliveryStatus.SENT
        except NotifyError as exc:
            ok, detail, status = False, pipeline.redact(str(exc)), DeliveryStatus.FAILED
        pipeline.store.delivery_add(Delivery(
            outbox_id=0, receiver=receiver, message_key=key, event=MessageEvent.TEST.value, status=status, attempt=1,
            at=pipeline.clock.now(), latency=timedelta(seconds=pipeline.clock.monotonic() - started),
            error="" if ok else detail))
        out.append((receiver, ok, detail))
    return out
