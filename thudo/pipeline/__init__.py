"""The analytics pipeline: derived values (VN_AQI, flood, rain) and alerts as data arrives."""

from thudo.pipeline.alerts import AlertKeeper
from thudo.pipeline.runner import Pipeline, load_rules
from thudo.pipeline.watch import WATCHED_TYPES, ChangeWatch

__all__ = ["WATCHED_TYPES", "AlertKeeper", "ChangeWatch", "Pipeline", "load_rules"]
