"""Alert rules applied to the entities as they change, and the alerts' lifecycle.

Each (tenant, rule, entity) has a rule state (``analytics.alerting.step``). A raise writes an
``Alert`` entity, whose id is derived from the rule, the entity and the raise time, so that a
replay after a restart finds the alert it wrote instead of adding another. A clear resolves
it. Operators acknowledge and resolve alerts through the API. On start-up the open alerts
are read back, so a restarted process neither forgets nor repeats them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from thudo.analytics.alerting import (
    Alert,
    AlertStatus,
    Change,
    Rule,
    RuleState,
    acknowledge,
    open_alert,
    resolve,
    rule_from_mapping,
    step,
)
from thudo.errors import (
    AlreadyExists,
    BadRequestData,
    NonexistentTenant,
    OperationNotSupported,
    ResourceNotFound,
)
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity, find_instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeName
from thudo.ngsild.validate import now_iso, parse_datetime
from thudo.pipeline.alertdoc import ALERT_TYPE, alert_entity, alert_from_entity
from thudo.store.base import UNCHANGED, Outcome, Store

__all__ = ["RULE_KIND", "AlertKeeper"]

log = logging.getLogger(__name__)

_Key = tuple[str, str, str]  # tenant, rule id, entity id
RULE_KIND = "alert-rule"
_PAGE = 1000


class AlertKeeper:
    """Runs the rules on entity states and keeps the Alert entities in step."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[Rule],
        rules_changed: Callable[[list[Rule]], None] | None = None,
    ) -> None:
        self.store = store
        self._rules_changed = rules_changed
        self.rules = list(rules)
        self._ctx = core_context()
        self._states: dict[_Key, RuleState] = {}
        self._open: dict[_Key, Alert] = {}
        self.api_rules: set[str] = set()
        self.raised = 0
        self.cleared = 0

    async def load(self) -> None:
        """Read the rules added through the API and the open alerts of every tenant back."""
        for doc in await self.store.list_documents(RULE_KIND, ""):
            try:
                self._add(rule_from_mapping(doc["rule"]), api=True)
            except (ValueError, KeyError) as exc:
                log.warning("stored alert rule %s is ignored: %s", doc.get("id"), exc)
        for tenant in ["", *await self.store.tenants()]:
            for alert in await self.alerts(tenant):
                if alert.status is not AlertStatus.RESOLVED:
                    key = (tenant, alert.rule_id, alert.entity_id)
                    self._open[key] = alert
                    self._states[key] = RuleState(active=True)
        log.info("alerts: %d rules, %d open alerts", len(self.rules), len(self._open))

    # --- the rules ----------------------------------------------------------------------
    def _add(self, rule: Rule, api: bool) -> None:
        self.rules = [r for r in self.rules if r.id != rule.id] + [rule]
        if api:
            self.api_rules.add(rule.id)
        self._changed()

    def _changed(self) -> None:
        if self._rules_changed is not None:
            self._rules_changed(self.rules)

    async def add_rule(self, raw: Any) -> Rule:
        """Add a rule given as a JSON object of the TOML fields; stored for restarts."""
        try:
            rule = rule_from_mapping(raw)
        except ValueError as exc:
            raise BadRequestData(str(exc)) from None
        if any(r.id == rule.id for r in self.rules):
            raise AlreadyExists(f"an alert rule with id {rule.id!r} exists")
        await self.store.save_document(RULE_KIND, "", {"id": rule.id, "rule": raw}, create=True)
        self._add(rule, api=True)
        return rule

    async def remove_rule(self, rule_id: str) -> None:
        """Remove a rule added through the API (file rules change in their file)."""
        if rule_id not in self.api_rules:
            if any(r.id == rule_id for r in self.rules):
                raise OperationNotSupported(
                    f"rule {rule_id!r} comes from the rules file; change it there"
                )
            raise ResourceNotFound(f"no alert rule with id {rule_id!r}")
        await self.store.delete_document(RULE_KIND, "", rule_id)
        self.rules = [r for r in self.rules if r.id != rule_id]
        self.api_rules.discard(rule_id)
        self._changed()

    def active_count(self) -> int:
        """How many alerts are open (active or acknowledged)."""
        return len(self._open)

    async def alerts(self, tenant: str) -> list[Alert]:
        """Every alert of a tenant, open or resolved."""
        types = TypeName(self._ctx.expand(ALERT_TYPE))
        out: list[Alert] = []
        offset = 0
        while True:
            sel = EntitySelection(types=types, limit=_PAGE, offset=offset)
            try:
                page = await self.store.query_entities(tenant, sel)
            except NonexistentTenant:
                return out
            out.extend(a for a in map(_decode, page.entities) if a is not None)
            if len(page.entities) < _PAGE:
                return out
            offset += _PAGE

    # --- rules ------------------------------------------------------------------------
    async def evaluate(self, tenant: str, entity: Entity, kind: str) -> None:
        """Fold the entity's current values into the rules that watch it."""
        for rule in self.rules:
            if not rule.applies_to(kind, entity["id"]):
                continue
            reading = self._reading(entity, rule.attribute)
            if reading is None:
                continue
            key = (tenant, rule.id, entity["id"])
            state, transition = step(rule, self._states.get(key, RuleState()), *reading)
            self._states[key] = state
            if transition is None:
                continue
            if transition.change is Change.RAISE:
                await self._raise(key, rule, entity, transition)
            else:
                await self._clear(key, transition.at)

    def _reading(self, entity: Entity, name: str) -> tuple[float, datetime] | None:
        instances = entity["attrs"].get(self._ctx.expand(name)) or []
        i = find_instance(instances, None)
        if i < 0:
            return None
        inst = instances[i]
        value = inst.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        at = parse_datetime(str(inst.get("observedAt") or inst.get("modifiedAt") or ""))
        return (float(value), at) if at is not None else None

    async def _raise(self, key: _Key, rule: Rule, entity: Entity, transition: Any) -> None:
        if key in self._open:
            return
        alert = open_alert(
            rule,
            transition,
            entity_id=entity["id"],
            area_name=self._text(entity, "name") or self._text(entity, "areaServed") or "",
            location=self._location(entity),
        )
        self._open[key] = alert
        self.raised += 1
        await self._write(key[0], alert, create_only=True)
        log.info("alert raised: %s at %s (%s)", rule.id, entity["id"], transition.value)

    async def _clear(self, key: _Key, at: datetime) -> None:
        alert = self._open.pop(key, None)
        if alert is None:
            return
        self.cleared += 1
        done = resolve(alert, by=f"rule {alert.rule_id}", at=max(at, alert.updated_at))
        await self._write(key[0], done)

    def _text(self, entity: Entity, name: str) -> str | None:
        instances = entity["attrs"].get(self._ctx.expand(name)) or []
        value = instances[0].get("value") if instances else None
        return value if isinstance(value, str) else None

    def _location(self, entity: Entity) -> dict[str, Any] | None:
        instances = entity["attrs"].get(self._ctx.expand("location")) or []
        value = instances[0].get("value") if instances else None
        return value if isinstance(value, dict) else None

    async def _write(self, tenant: str, alert: Alert, create_only: bool = False) -> None:
        def change(current: Entity | None) -> Outcome:
            if current is not None and create_only:
                return UNCHANGED, None  # written before a restart: the same alert
            now = now_iso()
            new = alert_entity(alert, now)
            if current is not None:
                new["createdAt"] = current.get("createdAt", now)
            return new, None

        await self.store.change(tenant, alert.id, change)

    # --- the operators' lifecycle -------------------------------------------------------------
    async def act(self, tenant: str, alert_id: str, action: str, by: str) -> Alert:
        """Acknowledge or resolve an alert on behalf of ``by``."""
        entity = await self.store.get_entity(tenant, alert_id)
        alert = _decode(entity) if entity is not None else None
        if alert is None:
            raise ResourceNotFound(f"alert {alert_id!r} does not exist")
        at = datetime.now(UTC)
        try:
            if action == "acknowledge":
                done = acknowledge(alert, by=by, at=max(at, alert.updated_at))
            else:
                done = resolve(alert, by=by, at=max(at, alert.updated_at))
        except ValueError as exc:
            raise BadRequestData(str(exc)) from None
        await self._write(tenant, done)
        key = (tenant, done.rule_id, done.entity_id)
        if done.status is AlertStatus.RESOLVED:
            self._open.pop(key, None)
        elif key in self._open:
            self._open[key] = done
        return done


def _decode(entity: Entity) -> Alert | None:
    try:
        return alert_from_entity(entity)
    except (ValueError, TypeError, KeyError):
        log.warning("entity %s is not an alert written by thudo; it is skipped", entity.get("id"))
        return None
