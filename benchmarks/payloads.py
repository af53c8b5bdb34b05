"""The entities and request bodies every scenario sends, shared by the seeder, the
wrk templates and the baseline app so that thudo and the baseline see the same bytes."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "ENTITY_TYPE",
    "ID_MARK",
    "QUERY_ATTR",
    "QUERY_VALUES",
    "UPDATE_ATTR",
    "batch_template",
    "entity",
    "entity_id",
    "entity_template",
]

ENTITY_TYPE = "AirQualityObserved"
ID_PREFIX = "urn:ngsi-ld:AirQualityObserved:hanoi-"
# Stands for the sequence number wrk puts into a template (see wrk/ngsild.lua).
ID_MARK = "\u00a7N\u00a7"
UPDATE_ATTR = "pm25"
QUERY_ATTR = "aqi"
# ``aqi`` cycles through 0..QUERY_VALUES-1, so ``q=aqi==k`` selects 1 % of the entities.
QUERY_VALUES = 100

# Hoan Kiem, Hanoi: stations are spread over a few kilometres around it.
_LON, _LAT = 105.8342, 21.0278


def entity_id(key: str) -> str:
    """The id of entity ``key`` (a number, or a prefix plus a number)."""
    return ID_PREFIX + key


def entity(key: str, n: int) -> dict[str, Any]:
    """An AirQualityObserved with six attributes, its values derived from ``n``."""
    return {
        "id": entity_id(key),
        "type": ENTITY_TYPE,
        "dateObserved": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2024-05-01T08:00:00Z"},
        },
        "location": {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [round(_LON + (n % 97) * 1e-3, 6), round(_LAT + (n % 89) * 1e-3, 6)],
            },
        },
        UPDATE_ATTR: {"type": "Property", "value": 10 + n % 70, "unitCode": "GQ"},
        "pm10": {"type": "Property", "value": 20 + n % 90, "unitCode": "GQ"},
        "no2": {"type": "Property", "value": 5 + n % 60, "unitCode": "GQ"},
        QUERY_ATTR: {"type": "Property", "value": n % QUERY_VALUES},
    }


def entity_template(prefix: str) -> bytes:
    """A create body whose id ends in ``ID_MARK``."""
    return orjson.dumps(entity(prefix + ID_MARK, 1))


def batch_template(prefix: str, size: int) -> bytes:
    """An upsert body of ``size`` entities whose ids hold ``ID_MARK`` (the batch number)."""
    return orjson.dumps([entity(f"{prefix}{ID_MARK}-{j}", j) for j in range(size)])
