"""The store contract: what every backend (SQLite, PostgreSQL) provides to the API.

Writes are expressed as *changes*: a pure function that receives the current entity
(a private copy, or None when it does not exist) and returns the new state. The store
runs it inside its write transaction, so read-modify-write is atomic and the domain
rules stay out of the SQL.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TemporalEntity, TimeFilter

__all__ = [
    "DELETE",
    "UNCHANGED",
    "AttributeInfo",
    "Change",
    "ChangeListener",
    "ChangeObserver",
    "ContextRecord",
    "DeliveryOutcome",
    "DeliveryStats",
    "EntityPage",
    "Outbound",
    "Outcome",
    "PendingNotification",
    "Store",
    "SubscriptionRecord",
    "TypeInfo",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Returned by a change to delete the entity.
DELETE: Final = _Marker("DELETE")
#: Returned by a change that leaves the entity as it was.
UNCHANGED: Final = _Marker("UNCHANGED")

Outcome = tuple[Entity | _Marker, Any]
#: A change: current entity (or None) → (new entity | DELETE | UNCHANGED, result).
Change = Callable[[Entity | None], Outcome]


@dataclass(frozen=True, slots=True)
class EntityPage:
    """One page of a query, and the total count when it was asked for."""

    entities: list[Entity]
    count: int | None = None


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """What the store knows about one entity type (clause 5.7.5-5.7.6)."""

    type: str
    count: int
    attributes: dict[str, set[str]] = field(default_factory=dict)  # attr IRI → attr types


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    """What the store knows about one attribute name (clause 5.7.8-5.7.9)."""

    name: str
    count: int
    types: set[str]
    attribute_types: set[str]


@dataclass(slots=True)
class ContextRecord:
    """A stored @context (clause 5.13): Hosted, Cached or ImplicitlyCreated."""

    id: str
    url: str
    kind: str
    body: bytes
    created_at: str
    last_usage: str | None = None
    hits: int = 0


@dataclass(slots=True)
class DeliveryStats:
    """How notifications of a subscription have fared (clause 5.2.13)."""

    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None


@dataclass(slots=True)
class SubscriptionRecord:
    """A stored subscription: its document, its @context and its delivery status."""

    tenant: str
    doc: dict[str, Any]
    context: Any
    stats: DeliveryStats = field(default_factory=DeliveryStats)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A notification to send, written to the outbox in the transaction of the change.

    ``throttling`` (seconds) is the subscription's, for a store that throttles across
    processes (``Store.shared_throttling``); other stores ignore it.
    """

    sub_id: str
    entity_id: str
    trigger: str
    payload: dict[str, Any]
    throttling: float | None = None


@dataclass(frozen=True, slots=True)
class PendingNotification:
    """An outbox row claimed for delivery."""

    nid: int
    tenant: str
    sub_id: str
    entity_id: str
    trigger: str
    payload: dict[str, Any]
    attempts: int
    created_at: str


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The result of one delivery attempt; ``retry_at`` (epoch seconds) None = give up."""

    nid: int
    ok: bool
    at: str
    retry_at: float | None = None
    error: str | None = None


#: Called inside the write transaction with (tenant, before, after); returns what to send.
ChangeListener = Callable[[str, Entity | None, Entity | None], list[Outbound]]


class ChangeObserver(abc.ABC):
    """Watches committed entity changes (the analytics pipeline), without writing anything.

    ``seen`` must be quick and must not touch the store. A backend calls it either inside
    the write transaction (SQLite: one writer, so no other commit can come between) or
    after the commit and before ``committed`` (PostgreSQL: with concurrent transactions,
    another one's commit could otherwise release a change not yet committed). A change
    seen inside a transaction may still roll back, so what ``seen`` does must be safe to
    repeat. ``committed`` runs after each commit.
    """

    @abc.abstractmethod
    def wants(self, tenant: str, types: list[str]) -> bool:
        """Whether changes of entities of these types matter (cheap)."""

    @abc.abstractmethod
    def seen(self, tenant: str, before: Entity | None, after: Entity | None) -> None:
        """Note a change."""

    @abc.abstractmethod
    def committed(self) -> None:
        """The changes noted so far are committed."""


class Store(abc.ABC):
    """The contract between the API and a storage backend."""

    #: True when the store applies ``Outbound.throttling`` itself, once across every
    #: process on the database; False: the matcher throttles in memory (one process).
    shared_throttling: bool = False

    def watch_changes(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` on the event loop whenever any process may have changed the
        subscriptions (None: stop). The default does nothing: the dispatcher polls."""
        return None

    def watch_contexts(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` on the event loop whenever another process may have stored,
        reloaded or deleted an @context (None: stop). The default does nothing: with one
        process there is no other."""
        return None

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections, create or upgrade the schema."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and close connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ServiceUnavailable if the store cannot answer."""

    # --- entities -----------------------------------------------------------------
    @abc.abstractmethod
    async def change(self, tenant: str, entity_id: str, fn: Change) -> Any:
        """Apply one change atomically; errors raised by ``fn`` propagate."""

    @abc.abstractmethod
    async def change_many(self, tenant: str, changes: Sequence[tuple[str, Change]]) -> list[Any]:
        """Apply changes in one transaction; each item gets its result or its error."""

    @abc.abstractmethod
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        """One entity, or None. Raises NonexistentTenant for an unknown tenant."""

    @abc.abstractmethod
    async def query_entities(self, tenant: str, sel: EntitySelection) -> EntityPage:
        """The entities matching a selection, in a stable order, one page."""

    # --- discovery ----------------------------------------------------------------
    @abc.abstractmethod
    async def entity_types(self, tenant: str, with_attributes: bool) -> list[TypeInfo]:
        """Every entity type in use, with counts and optionally attribute details."""

    @abc.abstractmethod
    async def attributes(self, tenant: str, name: str | None = None) -> list[AttributeInfo]:
        """Every attribute name in use (or one), with the types that carry it."""

    # --- tenants and contexts -------------------------------------------------------
    @abc.abstractmethod
    async def tenants(self) -> list[str]:
        """The names of the tenants that exist."""

    @abc.abstractmethod
    async def save_context(self, rec: ContextRecord) -> None:
        """Insert or replace a stored @context."""

    @abc.abstractmethod
    async def load_contexts(self) -> list[ContextRecord]:
        """Every stored @context."""

    @abc.abstractmethod
    async def delete_context(self, context_id: str) -> bool:
        """Delete a stored @context; False if there was none."""

    @abc.abstractmethod
    async def touch_contexts(self, usage: dict[str, tuple[int, str]]) -> None:
        """Add hit counts and last-usage times, batched by the caller."""

    # --- subscriptions and the outbox ------------------------------------------------
    @abc.abstractmethod
    def set_change_listener(
        self,
        listener: ChangeListener | None,
        wants: Callable[[str, list[str]], bool] | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        """Register the function that turns entity changes into outbox rows.

        ``wants(tenant, types)`` says cheaply whether a change of an entity of these types
        may concern anyone; ``on_commit`` is called (from the writer) after a commit that
        wrote to the outbox.
        """

    @abc.abstractmethod
    def set_change_observer(self, observer: ChangeObserver | None) -> None:
        """Register the one observer of committed changes (None: none)."""

    @abc.abstractmethod
    async def save_subscription(self, rec: SubscriptionRecord, create: bool) -> None:
        """Store a subscription; with ``create``, AlreadyExists if the id is taken."""

    @abc.abstractmethod
    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        """One subscription with its delivery status."""

    @abc.abstractmethod
    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        """A page of the tenant's subscriptions and their total number."""

    @abc.abstractmethod
    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        """Delete a subscription and its pending notifications; False if there was none."""

    @abc.abstractmethod
    async def all_subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription of every tenant (to build the matching index)."""

    @abc.abstractmethod
    async def subscriptions_version(self) -> int:
        """A number that changes whenever any process changes a subscription."""

    @abc.abstractmethod
    async def enqueue(self, tenant: str, items: list[Outbound]) -> None:
        """Add notifications to the outbox (periodic subscriptions)."""

    @abc.abstractmethod
    async def claim_notifications(self, limit: int, lease_s: float) -> list[PendingNotification]:
        """Due outbox rows, leased so no other process sends them meanwhile."""

    @abc.abstractmethod
    async def settle_notifications(self, outcomes: list[DeliveryOutcome]) -> None:
        """Record delivery results: delete what was sent, reschedule or fail the rest."""

    @abc.abstractmethod
    async def claim_periodic(self, tenant: str, sub_id: str, now: float, interval: float) -> bool:
        """Claim the current period of a periodic subscription (once across processes)."""

    @abc.abstractmethod
    async def outbox_counts(self) -> dict[str, int]:
        """Pending and failed notifications, for /health and metrics."""

    # --- other documents (context source registrations) ----------------------------------
    @abc.abstractmethod
    async def save_document(
        self, kind: str, tenant: str, doc: dict[str, Any], create: bool
    ) -> None:
        """Store a document by its id (AlreadyExists / ResourceNotFound as appropriate)."""

    @abc.abstractmethod
    async def get_document(self, kind: str, tenant: str, doc_id: str) -> dict[str, Any] | None:
        """One document."""

    @abc.abstractmethod
    async def list_documents(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        """Every document of a kind in a tenant, oldest first."""

    @abc.abstractmethod
    async def delete_document(self, kind: str, tenant: str, doc_id: str) -> bool:
        """Delete a document; False if there was none."""

    # --- history (temporal API) ---------------------------------------------------------
    @abc.abstractmethod
    async def temporal_query(
        self,
        tenant: str,
        sel: EntitySelection,
        time: TimeFilter,
        instance_limit: int,
        aggregation: Aggregation | None = None,
    ) -> tuple[list[TemporalEntity], int | None, str | None]:
        """Temporal entities with their instances (or aggregates), and the Content-Range
        when the instance limit cut the answer short (clause 6.3.10)."""

    @abc.abstractmethod
    async def hourly_means(
        self, tenant: str, entity_id: str, attrs: Sequence[str], since: str
    ) -> dict[str, dict[str, float]]:
        """Hourly means (from the rollups) of the default instances of some attributes, from
        the hour of ``since`` on: attribute → hour start (normalized time) → mean."""

    @abc.abstractmethod
    async def recent_values(
        self, tenant: str, entity_id: str, attr: str, since: str
    ) -> list[tuple[str, float]]:
        """The numeric values of an attribute's default instance observed at or after
        ``since``, oldest first, as (normalized observedAt, value)."""

    @abc.abstractmethod
    async def optimize(self) -> None:
        """Refresh the statistics the query planner relies on."""

    @abc.abstractmethod
    async def purge_history(self, before: str, limit: int) -> int:
        """Delete up to ``limit`` raw instances observed before a time; rollups stay."""

    @abc.abstractmethod
    async def purge_failed_notifications(self, before: str) -> int:
        """Delete notifications that failed for good before a time."""

    @abc.abstractmethod
    async def temporal_append(
        self,
        tenant: str,
        entity_id: str,
        types: list[str] | None,
        scope: list[str] | None,
        attrs: dict[str, list[Instance]],
    ) -> bool:
        """Add instances, creating the temporal entity when types are given; True if new.

        Without types the entity must exist (ResourceNotFound otherwise).
        """

    @abc.abstractmethod
    async def temporal_delete(self, tenant: str, entity_id: str) -> bool:
        """Delete a temporal entity and its instances."""

    @abc.abstractmethod
    async def temporal_delete_attribute(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        """Delete the instances of an attribute; how many were deleted."""

    @abc.abstractmethod
    async def temporal_modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> bool:
        """Change one instance; False if it does not exist."""

    @abc.abstractmethod
    async def temporal_delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        """Delete one instance; False if it does not exist."""
