# ruff: noqa: E501
"""The HTML template of the weekly report (kept in a module so it ships inside the wheel). Table layout and
inline styles: Gmail and Outlook drop <style> blocks and flexbox."""

WEEKLY_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sentinel weekly SLA report {{ r.week }}</title></head>
<body style="margin:0;padding:0;background:#f1f3f4;font-family:Arial,Helvetica,sans-serif;color:#202124;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f1f3f4;"><tr><td align="center">
<table role="presentation" width="800" cellpadding="0" cellspacing="0" style="background:#ffffff;margin:16px 0;">
<tr><td style="padding:20px 24px;background:#202124;color:#ffffff;">
  <div style="font-size:20px;font-weight:bold;">Weekly SLA report {{ r.week }}</div>
  <div style="font-size:13px;color:#bdc1c6;">{{ r.start.strftime('%a %d %b') }} &ndash; {{ r.last_day.strftime('%a %d %b %Y') }} (UTC)
    &middot; NovaPay CDC pipeline &middot; generated {{ r.generated_at.strftime('%Y-%m-%d %H:%M') }} UTC</div>
  <div id="headline" style="font-size:15px;margin-top:8px;">{{ r.headline }}</div>
</td></tr>
{% for s in r.sections %}
<tr><td style="padding:18px 24px 4px 24px;border-bottom:1px solid #e8eaed;" id="sla-{{ s.sla.id }}">
  <div style="font-size:17px;font-weight:bold;">{{ s.sla.id }}
    <span style="font-size:12px;color:#ffffff;background:{{ verdict_color[s.verdict] }};padding:2px 8px;border-radius:10px;margin-left:6px;">{{ s.verdict | upper }}</span></div>
  <div style="font-size:13px;color:#5f6368;margin:2px 0 10px 0;">{{ s.sla.description }}{% if s.sla.description %} &middot; {% endif %}{{ s.threshold_text }} &middot; owner {{ s.sla.owner }}{% if s.sla.table %} &middot; {{ s.sla.table }}{% endif %}</div>
  <table role="presentation" cellpadding="6" cellspacing="0" style="font-size:13px;border-collapse:collapse;width:100%;">
    <tr style="background:#f8f9fa;color:#5f6368;">
      <td>Objective</td><td>Attainment</td><td>vs {{ r.previous_week }}</td><td>Error budget left</td><td>Breach</td><td>Unknown (no data)</td>
    </tr>
    <tr style="font-size:15px;">
      <td class="objective">{{ s.sla.objective | pct }}</td>
      <td class="attainment" style="font-weight:bold;color:{{ verdict_color[s.verdict] }};">{{ s.attainment.attainment | pct_against(s.sla.objective) }}</td>
      <td class="trend">{{ s.trend_points | trend }}</td>
      <td class="budget">{{ budget_text(s) }}</td>
      <td class="breach-time">{{ s.attainment.breach | dur }}</td>
      <td class="unknown-time">{{ s.attainment.unknown | dur }}</td>
    </tr>
  </table>
  <table role="presentation" cellpadding="6" cellspacing="0" style="font-size:13px;margin-top:4px;">
    <tr><td style="color:#5f6368;">{{ 'Lateness' if s.sla.kind == 'deadline' else 'Freshness' }}</td>
      <td>p50 <b class="p50">{{ s.window.values.p50 | minutes }}</b></td>
      <td>p95 <b class="p95">{{ s.window.values.p95 | minutes }}</b></td>
      <td>max <b class="max">{{ s.window.values.max | minutes }}</b></td>
      <td style="color:#5f6368;">{{ s.window.values.count }} observations</td></tr>
  </table>
  <div style="margin:8px 0;"><img src="{{ src(s.sla.id) }}" width="760" height="230" alt="{{ s.sla.id }} over the week against its threshold" style="display:block;border:0;max-width:100%;height:auto;"></div>
  {% if s.breaches %}
  <table role="presentation" cellpadding="6" cellspacing="0" class="breaches" style="font-size:13px;border-collapse:collapse;width:100%;margin-bottom:12px;">
    <tr style="background:#fce8e6;color:#5f6368;"><td>Breach started (UTC)</td><td>Duration</td><td>Worst</td><td>Root cause (from the alert history)</td></tr>
    {% for b in s.breaches %}
    <tr style="border-top:1px solid #f1f3f4;">
      <td>{{ b | breach_start('') }}</td>
      <td>{{ b | breach_length }}</td>
      <td>{{ b.worst_value | minutes }}</td>
      <td>{{ b.root_cause }}</td>
    </tr>
    {% endfor %}
  </table>
  {% else %}
  <div style="font-size:13px;color:#188038;margin-bottom:12px;">No breaches this week.</div>
  {% endif %}
</td></tr>
{% endfor %}
<tr><td style="padding:18px 24px 0 24px;">
  <div style="font-size:16px;font-weight:bold;margin-bottom:6px;">Incidents</div>
  {% if r.incidents %}
  <table role="presentation" cellpadding="6" cellspacing="0" id="incidents" style="font-size:13px;border-collapse:collapse;width:100%;">
    <tr style="background:#f8f9fa;color:#5f6368;"><td>Started (UTC)</td><td>Severity</td><td>Check</td><td>Where</td><td>What</td><td>End</td></tr>
    {% for i in r.incidents %}
    <tr style="border-top:1px solid #f1f3f4;" class="incident" data-kind="{{ i.kind }}"><td>{{ i.started_at.strftime('%a %Y-%m-%d %H:%M') }}</td>
      <td style="color:{{ '#d93025' if i.severity == 'critical' else '#e37400' }};">{{ i.severity }}</td>
      <td>{{ incident_kind(i) }}</td><td>{{ i.where }}</td>
      <td>{{ i.summary }}{% if i.runbook_url %} (<a href="{{ i.runbook_url }}">runbook</a>){% endif %}</td>
      <td>{{ incident_end(i, r.generated_at) }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<div style="font-size:13px;">None this week.</div>{% endif %}
</td></tr>
<tr><td style="padding:18px 24px;">
  <div style="font-size:16px;font-weight:bold;margin-bottom:6px;">Noisiest checks</div>
  {% if r.noisiest %}
  <table role="presentation" cellpadding="6" cellspacing="0" id="noisiest" style="font-size:13px;border-collapse:collapse;width:100%;">
    <tr style="background:#f8f9fa;color:#5f6368;"><td>Check</td><td>Alerts sent</td><td>Fired</td><td>Not OK / results</td><td>Errors</td></tr>
    {% for n in r.noisiest %}
    <tr style="border-top:1px solid #f1f3f4;"><td>{{ n.check_id }}</td><td>{{ n.alerts }}</td><td>{{ n.episodes }}</td><td>{% if n.results %}{{ n.not_ok }} / {{ n.results }}{% else %}&ndash;{% endif %}</td><td>{{ n.errors }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<div style="font-size:13px;">None: a quiet week.</div>{% endif %}
</td></tr>
<tr><td style="padding:0 24px 18px 24px;">
  <div style="font-size:16px;font-weight:bold;margin-bottom:6px;">Alerts and pages</div>
  <div style="font-size:13px;" id="alert-stats"><b>{{ r.alerts.messages }}</b> messages sent &middot; <b>{{ r.alerts.fired }}</b> alerts fired &middot;
    <b>{{ r.alerts.pages }}</b> pages &middot; {{ r.alerts.failed }} failed deliveries{% if r.alerts.by_receiver %} &middot; by receiver:
    {% for k, v in r.alerts.by_receiver.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}</div>
</td></tr>
<tr><td style="padding:12px 24px;background:#f8f9fa;font-size:11px;color:#5f6368;">
  Attainment = met time / elapsed time. Time without an observation (check down, daemon down) is unknown: it is shown
  grey in the charts, never counted as met, and spends error budget. Budget = (1 &minus; objective) &times; 7 days.
  Breach shading is red; the dashed line is the threshold.
</td></tr>
</table></td></tr></table>
</body></html>
"""
