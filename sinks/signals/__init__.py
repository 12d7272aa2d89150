"""Retrain-signal delivery: a durable outbox and the targets signals are delivered to."""
