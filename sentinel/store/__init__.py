"""State that survives restarts: check results, per-check memory, and (from the alerting and SLA modules)
alert states, deliveries, silences and SLA observations."""
