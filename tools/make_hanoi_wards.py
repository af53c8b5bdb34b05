"""Derive thudo/simulate/hanoi-wards.json from the Smart Air NGSI-LD Dataset (ODbL 1.0).

Usage: python tools/make_hanoi_wards.py /work/shared/data/hanoi-wards-2025.geojson
Keeps name, class, population, centroid and administrative code of the 126 units, sorted by code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "thudo" / "simulate" / "hanoi-wards.json"


def main(source: str) -> None:
    features = json.loads(Path(source).read_text(encoding="utf-8"))["features"]
    wards = [
        {
            "code": str(p["Mã hành chính"]),
            "name": p["Tên đơn vị"],
            "class": p["Phân loại"],
            "population": int(p["Dân số"]),
            "lon": round(float(p["lon"]), 5),
            "lat": round(float(p["lat"]), 5),
        }
        for p in (f["properties"] for f in features)
    ]
    wards.sort(key=lambda w: int(w["code"]))
    doc = {
        "source": "Smart Air NGSI-LD Dataset (trungthanhcva2206/smart-air-ngsi-ld, "
        "etl/Data/ha_noi_with_latlon2.geojson, commit 23249fd3976383112057a3bef8cee8ded088d7d9)",
        "license": "ODbL-1.0",
        "attribution": "Contains data from Smart Air NGSI-LD Dataset, ODbL v1.0",
        "wards": wards,
    }
    head = json.dumps({k: v for k, v in doc.items() if k != "wards"}, ensure_ascii=False)
    rows = ",\n".join("  " + json.dumps(w, ensure_ascii=False) for w in wards)
    OUT.write_text(head[:-1] + ',\n "wards": [\n' + rows + "\n ]\n}\n", encoding="utf-8")
    print(f"{len(wards)} wards -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
