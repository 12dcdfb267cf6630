"""Turns check results into alerts and delivers them: rules -> lifecycle -> silences -> inhibition -> grouping
-> dedup -> outbox -> notifiers. Entry point: sentinel.alerting.pipeline.AlertPipeline."""
