"""Notifications: matching changes against subscriptions and delivering them (HTTP, MQTT)."""

from thudo.notify.dispatcher import Dispatcher
from thudo.notify.matcher import Matcher

__all__ = ["Dispatcher", "Matcher"]
