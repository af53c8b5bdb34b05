"""Notifications: matching changes against subscriptions and delivering them (HTTP, MQTT)."""
