"""Configuration: Settings (process environment) and alert_rules.yaml specs."""
