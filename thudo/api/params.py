"""Query parameters shared by the resources: options, format, attrs, pick/omit, lang, paging."""

from __future__ import annotations

from collections.abc import Mapping

from thudo.config import Settings
from thudo.errors import BadRequestData, InvalidRequest, TooManyResults
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.parse import expand_name, expand_type
from thudo.ngsild.projection import Projection, expand_projection, parse_projection
from thudo.ngsild.render import RenderOptions
from thudo.ngsild.typeexpr import TypeExpr, parse_type_expr

__all__ = [
    "check_known",
    "comma_list",
    "flag",
    "options_set",
    "paging",
    "projection",
    "render_options",
    "type_expression",
]

_FORMATS = {
    "keyValues": "keyValues",
    "simplified": "keyValues",
    "concise": "concise",
    "normalized": "normalized",
}
_OPTIONS = frozenset(
    {
        "keyValues",
        "simplified",
        "concise",
        "normalized",
        "sysAttrs",
        "noOverwrite",
        "update",
        "replace",
        "temporalValues",
        "aggregatedValues",
    }
)


def check_known(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    """Reject query parameters this operation does not define (clause 6.3.x)."""
    for name in params:
        if name not in allowed:
            raise BadRequestData(f"unknown query parameter {name!r}")


def comma_list(value: str | None) -> list[str]:
    """The non-empty items of a comma-separated parameter."""
    if value is None:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean parameter (true/false); anything else is a 400."""
    value = params.get(name)
    if value is None:
        return False
    if value in ("true", "false"):
        return value == "true"
    raise BadRequestData(f"{name} must be true or false, got {value!r}")


def options_set(params: Mapping[str, str]) -> set[str]:
    """The ``options`` parameter, checked."""
    opts = set(comma_list(params.get("options")))
    unknown = opts - _OPTIONS
    if unknown:
        raise BadRequestData(f"unknown options {', '.join(sorted(unknown))}")
    return opts


def _format(params: Mapping[str, str], opts: set[str]) -> str:
    chosen = {_FORMATS[o] for o in opts if o in _FORMATS}
    fmt = params.get("format")
    if fmt is not None:
        if fmt not in _FORMATS:
            raise BadRequestData(f"format {fmt!r} is not normalized, concise or keyValues")
        chosen.add(_FORMATS[fmt])
    if len(chosen) > 1:
        raise BadRequestData("options/format ask for more than one representation")
    return chosen.pop() if chosen else "normalized"


def _names(value: str | None, ctx: ActiveContext, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = comma_list(value)
    if not items:
        raise BadRequestData(f"{what} is empty")
    return frozenset(expand_name(n, ctx, f"{what} item") for n in items)


def projection(
    params: Mapping[str, str], ctx: ActiveContext
) -> tuple[frozenset[str] | None, Projection | None, Projection | None]:
    """The ``attrs``, ``pick`` and ``omit`` parameters, with names expanded."""
    attrs = _names(params.get("attrs"), ctx, "attrs")
    pick = _tree(params.get("pick"), ctx, "pick")
    omit = _tree(params.get("omit"), ctx, "omit")
    if pick is not None and omit is not None:
        raise BadRequestData("pick and omit cannot be used together")
    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestData("attrs cannot be combined with pick or omit")
    return attrs, pick, omit


def _tree(value: str | None, ctx: ActiveContext, what: str) -> Projection | None:
    if value is None:
        return None
    tree = parse_projection(value, what)
    return expand_projection(tree, lambda n: expand_name(n, ctx, f"{what} item"))


def _lang(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(value.split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                raise BadRequestData(f"lang: {part!r} has an invalid q value") from None
        if tag:
            ranked.append((-q, i, tag.strip()))
    if not ranked:
        raise BadRequestData("lang is empty")
    return tuple(t for _, _, t in sorted(ranked))


def render_options(
    params: Mapping[str, str], ctx: ActiveContext, opts: set[str] | None = None
) -> RenderOptions:
    """Everything that shapes an entity in a response."""
    opts = options_set(params) if opts is None else opts
    attrs, pick, omit = projection(params, ctx)
    dataset = params.get("datasetId")
    dataset_ids: frozenset[str | None] | None = None
    if dataset is not None:
        dataset_ids = frozenset(None if d == "@none" else d for d in comma_list(dataset))
    return RenderOptions(
        fmt=_format(params, opts),
        sys_attrs="sysAttrs" in opts,
        attrs=attrs,
        pick=frozenset(pick) if pick is not None else None,
        omit=frozenset(k for k, v in omit.items() if v is None) if omit is not None else None,
        pick_tree=pick,
        omit_tree=omit,
        lang=_lang(params.get("lang")),
        dataset_ids=dataset_ids,
    )


def paging(params: Mapping[str, str], settings: Settings) -> tuple[int, int]:
    """``limit`` and ``offset``, checked against the configured maximum page size."""
    limit = _int(params, "limit", settings.default_page_size)
    offset = _int(params, "offset", 0)
    if limit < 0 or offset < 0:
        raise BadRequestData("limit and offset must not be negative")
    if limit > settings.max_page_size:
        raise TooManyResults(
            f"limit {limit} is larger than the maximum page size {settings.max_page_size}"
        )
    return limit, offset


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}") from None
    if not -(2**31) < value < 2**31:
        raise BadRequestData(f"{name} {raw!r} is out of range")
    return value


def type_expression(text: str, ctx: ActiveContext) -> TypeExpr:
    """A type expression (clause 4.17) with every name checked (clause 4.6.2) and expanded."""
    return parse_type_expr(text, lambda name: expand_type(name, ctx))
