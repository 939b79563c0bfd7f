"""Plans and prices: what a valid price is, and how a stored price becomes a pricing.Price.

Prices are stored (and exchanged with the API layer) as plain dicts in the
shape of the proto's JSON with snake_case names and lower-case enum codes
("model_type": "tiered"); every number is a decimal string. `parse_price`
checks such a dict and builds the domain price the pricing function takes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from server.domain import money
from server.domain.customers import check_currency
from server.domain.errors import Violations
from server.domain.ids import new_id
from server.domain.invoices import Discount, DiscountKind
from server.domain.pricing import (
    Aggregation,
    BillableMetric,
    BillingMode,
    BulkTier,
    Cadence,
    MatrixCell,
    ModelType,
    Price,
    PriceType,
    Tier,
)
from server.domain.validation import MAX_NAME_LENGTH, check_id, check_metadata, check_one_id, check_text

MAX_PRICES_PER_PLAN: Final = 100
MAX_TIERS: Final = 50
MAX_MATRIX_VALUES: Final = 500

_CONFIG_OF_MODEL: Final = {
    ModelType.UNIT: "unit_config",
    ModelType.PACKAGE: "package_config",
    ModelType.TIERED: "tiered_config",
    ModelType.BULK: "bulk_config",
    ModelType.MATRIX: "matrix_config",
}


def _enum(value: str, kind: type[Any], field: str, v: Violations) -> Any:
    try:
        return kind(value)
    except ValueError:
        v.add(field, f"must be one of {', '.join(sorted(m.value for m in kind))}")
        return None


def _decimal(
    data: Mapping[str, Any], key: str, field: str, v: Violations, *, required: bool = True, positive: bool = False
) -> Decimal | None:
    text = data.get(key) or ""
    if not text:
        if required:
            v.add(f"{field}.{key}", "is required")
        return None
    return money.parse_decimal(text, f"{field}.{key}", v, allow_zero=not positive)


def parse_price(
    data: Mapping[str, Any], field: str, plan_currency: str, v: Violations, *, stored: bool = False
) -> Price | None:
    """Check a price dict and build its domain form; record every problem under `field` (None if any).

    `stored` reads a price that was valid when its plan was created: a matrix
    price stored before `default_unit_amount` was required bills unmatched
    usage at 0, as it did then.
    """
    before = len(v.items)
    check_text(data.get("name", ""), f"{field}.name", v, max_length=MAX_NAME_LENGTH, required=True)
    model = _enum(data.get("model_type", ""), ModelType, f"{field}.model_type", v)
    price_type = _enum(data.get("price_type", ""), PriceType, f"{field}.price_type", v)
    cadence = _enum(data.get("cadence", ""), Cadence, f"{field}.cadence", v)
    currency = data.get("currency") or plan_currency
    if currency != plan_currency:
        v.add(f"{field}.currency", f"must be the plan's currency {plan_currency}")
    default_mode = BillingMode.IN_ARREAR if price_type is PriceType.USAGE else BillingMode.IN_ADVANCE
    mode = (
        _enum(data["billing_mode"], BillingMode, f"{field}.billing_mode", v)
        if data.get("billing_mode")
        else default_mode
    )
    if price_type is PriceType.USAGE and mode is BillingMode.IN_ADVANCE:
        v.add(f"{field}.billing_mode", "usage prices are billed in arrears")
    if price_type is PriceType.USAGE and cadence is Cadence.ONE_TIME:
        v.add(f"{field}.cadence", "usage prices need a recurring cadence")
    metric = _metric(data.get("billable_metric"), price_type, f"{field}.billable_metric", v)
    quantity = Decimal(1)
    if price_type is PriceType.FIXED:
        parsed = _decimal(data, "fixed_price_quantity", field, v, required=False, positive=True)
        quantity = parsed if parsed is not None else Decimal(1)
    minimum = (
        money.parse_amount(data["minimum_amount"], plan_currency, f"{field}.minimum_amount", v)
        if data.get("minimum_amount")
        else None
    )
    maximum = (
        money.parse_amount(data["maximum_amount"], plan_currency, f"{field}.maximum_amount", v)
        if data.get("maximum_amount")
        else None
    )
    if minimum is not None and maximum is not None and minimum > maximum:
        v.add(f"{field}.maximum_amount", "must not be below minimum_amount")
    discounts = _discounts(data.get("discounts") or [], price_type, plan_currency, f"{field}.discounts", v)
    config: dict[str, Any] = {}
    if model is not None:
        for other_model, key in _CONFIG_OF_MODEL.items():
            if other_model is not model and data.get(key):
                v.add(f"{field}.{key}", f"must be empty for model_type {model.value}")
        key = _CONFIG_OF_MODEL[model]
        raw = data.get(key)
        if not raw:
            v.add(f"{field}.{key}", f"is required for model_type {model.value}")
        else:
            config = _model_config(model, raw, f"{field}.{key}", v, stored=stored)
        if model is ModelType.MATRIX and price_type is PriceType.FIXED:
            v.add(f"{field}.model_type", "matrix prices bill usage; use a usage price")
    if len(v.items) > before or model is None or price_type is None or cadence is None or mode is None:
        return None
    return Price(
        id=data.get("id", ""),
        name=data["name"],
        model=model,
        price_type=price_type,
        cadence=cadence,
        billing_mode=mode,
        currency=plan_currency,
        fixed_quantity=quantity,
        metric=metric,
        minimum=minimum,
        maximum=maximum,
        discounts=tuple(discounts),
        **config,
    )


def _metric(
    data: Mapping[str, Any] | None, price_type: PriceType | None, field: str, v: Violations
) -> BillableMetric | None:
    if price_type is not PriceType.USAGE:
        if data and any(data.values()):
            v.add(field, "is only for usage prices")
        return None
    if not data:
        v.add(field, "is required for usage prices")
        return None
    check_text(data.get("event_name", ""), f"{field}.event_name", v, max_length=MAX_NAME_LENGTH, required=True)
    aggregation = _enum(data.get("aggregation", ""), Aggregation, f"{field}.aggregation", v)
    prop = data.get("property", "")
    if aggregation is not None and aggregation is not Aggregation.COUNT and not prop:
        v.add(f"{field}.property", f"is required for {aggregation.value}")
    if aggregation is Aggregation.COUNT and prop:
        v.add(f"{field}.property", "must be empty for count")
    check_text(prop, f"{field}.property", v, max_length=MAX_NAME_LENGTH)
    if aggregation is None:
        return None
    return BillableMetric(data.get("event_name", ""), aggregation, prop)


def _discounts(
    items: Sequence[Mapping[str, Any]], price_type: PriceType | None, currency: str, field: str, v: Violations
) -> list[Discount]:
    result = []
    for index, item in enumerate(items):
        path = f"{field}[{index}]"
        kind = _enum(item.get("discount_type", ""), DiscountKind, f"{path}.discount_type", v)
        if kind is DiscountKind.PERCENTAGE:
            value = _decimal(item, "percentage_discount", path, v, positive=True)
            if value is not None and value > 1:
                v.add(f"{path}.percentage_discount", "must be a fraction between 0 and 1")
                value = None
        elif kind is DiscountKind.AMOUNT:
            value = money.parse_amount(
                item.get("amount_discount", ""), currency, f"{path}.amount_discount", v, allow_zero=False
            )
        elif kind is DiscountKind.USAGE:
            if price_type is not PriceType.USAGE:
                v.add(f"{path}.discount_type", "usage discounts apply to usage prices only")
            value = _decimal(item, "usage_discount", path, v, positive=True)
        else:
            value = None
        if kind is not None and value is not None:
            result.append(Discount(kind, value, item.get("reason", "")))
    return result


def _model_config(
    model: ModelType, raw: Mapping[str, Any], field: str, v: Violations, *, stored: bool
) -> dict[str, Any]:
    if model is ModelType.UNIT:
        amount = _decimal(raw, "unit_amount", field, v)
        return {} if amount is None else {"unit_amount": amount}
    if model is ModelType.PACKAGE:
        amount = _decimal(raw, "package_amount", field, v)
        size = raw.get("package_size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            v.add(f"{field}.package_size", "must be a whole number of units, at least 1")
            return {}
        return {} if amount is None else {"package_amount": amount, "package_size": size}
    if model is ModelType.TIERED:
        return {"tiers": tuple(_tiers(raw.get("tiers") or [], f"{field}.tiers", v))}
    if model is ModelType.BULK:
        return {"bulk_tiers": tuple(_bulk_tiers(raw.get("tiers") or [], f"{field}.tiers", v))}
    return _matrix(raw, field, v, stored=stored)


def _tier_count_ok(items: Sequence[Mapping[str, Any]], field: str, v: Violations) -> bool:
    """A tiered or bulk price has 1 to MAX_TIERS tiers."""
    if not items or len(items) > MAX_TIERS:
        v.add(field, f"must have 1 to {MAX_TIERS} tiers")
        return False
    return True


def _check_open_end(end: Decimal | None, is_last: bool, path: str, what: str, v: Violations) -> None:
    """Every tier but the last has an end (`path`); the last is open: it has no `what` (end, cap)."""
    if end is None and not is_last:
        v.add(path, "is required on every tier but the last")
    if end is not None and is_last:
        v.add(path, f"must be empty on the last tier (it has no {what})")


def _tiers(items: Sequence[Mapping[str, Any]], field: str, v: Violations) -> list[Tier]:
    if not _tier_count_ok(items, field, v):
        return []
    tiers = []
    expected_first = Decimal(0)
    for index, item in enumerate(items):
        path = f"{field}[{index}]"
        first = _decimal(item, "first_unit", path, v, required=False)
        first = first if first is not None else Decimal(0)
        last = _decimal(item, "last_unit", path, v, required=False)
        amount = _decimal(item, "unit_amount", path, v)
        if first != expected_first:
            v.add(f"{path}.first_unit", f"must be {money.to_wire(expected_first)}, where the previous tier ends")
        _check_open_end(last, index == len(items) - 1, f"{path}.last_unit", "end", v)
        if last is not None and last <= first:
            v.add(f"{path}.last_unit", "must be above first_unit")
        if amount is not None:
            tiers.append(Tier(first, last, amount))
        expected_first = last if last is not None else first
    return tiers


def _bulk_tiers(items: Sequence[Mapping[str, Any]], field: str, v: Violations) -> list[BulkTier]:
    if not _tier_count_ok(items, field, v):
        return []
    tiers = []
    previous = Decimal(0)
    for index, item in enumerate(items):
        path = f"{field}[{index}]"
        maximum = _decimal(item, "maximum_units", path, v, required=False)
        amount = _decimal(item, "unit_amount", path, v)
        _check_open_end(maximum, index == len(items) - 1, f"{path}.maximum_units", "cap", v)
        if maximum is not None and maximum <= previous:
            v.add(f"{path}.maximum_units", "must grow from tier to tier")
        if amount is not None:
            tiers.append(BulkTier(maximum, amount))
        previous = maximum if maximum is not None else previous
    return tiers


def _matrix(raw: Mapping[str, Any], field: str, v: Violations, *, stored: bool) -> dict[str, Any]:
    dimensions = tuple(raw.get("dimensions") or ())
    if not 1 <= len(dimensions) <= 2 or any(not d for d in dimensions):
        v.add(f"{field}.dimensions", "must name one or two event properties")
    values = raw.get("matrix_values") or []
    if len(values) > MAX_MATRIX_VALUES:
        v.add(f"{field}.matrix_values", f"must have at most {MAX_MATRIX_VALUES} cells")
    cells = []
    seen = set()
    for index, item in enumerate(values[:MAX_MATRIX_VALUES]):
        path = f"{field}.matrix_values[{index}]"
        key = tuple(item.get("dimension_values") or ())
        if len(key) != len(dimensions):
            v.add(f"{path}.dimension_values", f"must have one value per dimension ({len(dimensions)})")
        if key in seen:
            v.add(f"{path}.dimension_values", "repeats another cell")
        seen.add(key)
        amount = _decimal(item, "unit_amount", path, v)
        if amount is not None:
            cells.append(MatrixCell(key, amount))
    # Orb requires the default: without one, usage that matches no cell would go unbilled without anyone
    # having said so ("0" says it).
    default = _decimal(raw, "default_unit_amount", field, v, required=not stored)
    return {"dimensions": dimensions, "cells": tuple(cells), "default_unit_amount": default or Decimal(0)}


def check_plan_prices(prices: Sequence[Price], field: str, v: Violations) -> None:
    """A plan's recurring prices share one cadence (its billing period); one-time prices bill once."""
    if not prices:
        v.add(field, "must have at least one price")
    cadences = {p.cadence for p in prices if p.cadence is not Cadence.ONE_TIME}
    if len(cadences) > 1:
        v.add(field, "recurring prices of a plan must share one cadence")


def plan_months(prices: Sequence[Price]) -> int:
    """Months per billing period of a plan: its recurring cadence (monthly when it has only one-time prices)."""
    return cadence_months(price.cadence for price in prices)


def cadence_months(cadences: Iterable[Cadence]) -> int:
    """Months per billing period of a plan whose prices have these cadences (see plan_months)."""
    for cadence in cadences:
        if cadence is not Cadence.ONE_TIME:
            return cadence.months
    return 1


# A price as stored with its plan and shown on invoice lines: the proto's JSON shape (snake_case names,
# lower-case enum codes, decimal strings), validated by parse_price when the plan was created.
PriceDocument = Mapping[str, Any]


@dataclass(frozen=True)
class PlanRef:
    """A plan named by its id or its external id (exactly one is set)."""

    plan_id: str = ""
    external_plan_id: str = ""

    def check(self, violations: Violations) -> None:
        """Exactly one of the two is set, and each is a valid id."""
        check_one_id("plan_id", self.plan_id, "external_plan_id", self.external_plan_id, violations)


@dataclass(frozen=True)
class NewPlan:
    """A plan to create: its prices validated, given ids, and shown with the billing mode that applies."""

    name: str
    currency: str
    prices: tuple[PriceDocument, ...]
    external_plan_id: str
    metadata: Mapping[str, str]


def new_plan(
    name: str,
    currency: str,
    prices: Sequence[Mapping[str, Any]],
    external_plan_id: str,
    metadata: Mapping[str, str],
    v: Violations,
) -> NewPlan:
    """Check a plan and its price documents (recording every problem in v) and give each price an id."""
    check_text(name, "name", v, max_length=MAX_NAME_LENGTH, required=True)
    check_currency(currency, "currency", v)
    check_id(external_plan_id, "external_plan_id", v, required=False)
    check_metadata(metadata, "metadata", v)
    if len(prices) > MAX_PRICES_PER_PLAN:
        v.add("prices", f"must have at most {MAX_PRICES_PER_PLAN} prices")
    stored: list[PriceDocument] = []
    parsed: list[Price] = []
    for index, given in enumerate(prices[:MAX_PRICES_PER_PLAN]):
        data = {**given, "id": new_id("price")}
        data.setdefault("currency", currency)  # a price in another currency is refused
        price = parse_price(data, f"prices[{index}]", currency, v)
        if price is not None:
            data["billing_mode"] = price.billing_mode.value  # show the mode that applies, defaults included
            parsed.append(price)
            stored.append(data)
    if len(parsed) == len(prices):  # every price is valid on its own: check them together
        check_plan_prices(parsed, "prices", v)
    return NewPlan(name, currency, tuple(stored), external_plan_id, metadata)


@dataclass(frozen=True)
class Plan:
    """A plan as stored."""

    id: str
    external_plan_id: str  # "" when none
    name: str
    currency: str
    prices: tuple[PriceDocument, ...]
    metadata: Mapping[str, str]
    created_at: dt.datetime


def metered_events(prices: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The event names the usage prices of a stored plan bill."""
    return frozenset(p["billable_metric"]["event_name"] for p in prices if p.get("price_type") == PriceType.USAGE.value)
