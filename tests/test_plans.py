"""PlanService end to end: plans of every price model, lookups, the ListPlans stream and price validation."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import timestamp_pb2
from invoicing.v1 import plan_service_pb2, price_pb2

from tests.support.builders import (
    amount_off,
    bulk,
    create_plan,
    fixed_fee,
    metric,
    percentage_off,
    plan_request,
    tokens_price,
    usage_off,
    usage_price,
)
from tests.support.client import Api, assert_field_reasons, expect_error

BATCH = 50  # records per stream message on the test server


def bulk_price() -> price_pb2.Price:
    """Orb's volume example: up to 10 units @ 0.50, more @ 0.40, over the max of `seats`."""
    return usage_price(
        "Seats",
        billable=metric("seat_count", price_pb2.AGGREGATION_MAX, "seats"),
        config=bulk(("10", "0.50"), ("", "0.40")),
    )


def package_price() -> price_pb2.Price:
    """5.00 per package of 10 events."""
    return usage_price(
        "Messages",
        billable=metric("message"),
        config=price_pb2.PackageConfig(package_amount="5.00", package_size=10),
    )


def matrix_price(dimensions: int = 2) -> price_pb2.Price:
    """A unit rate per region (and instance type), with a default rate."""
    names = ["region", "instance"][:dimensions]
    values = [["us", "gpu"], ["eu", "gpu"], ["us", "cpu"]]
    return usage_price(
        "Compute",
        billable=metric("compute", price_pb2.AGGREGATION_UNIQUE_COUNT, "host"),
        config=price_pb2.MatrixConfig(
            dimensions=names,
            matrix_values=[
                price_pb2.MatrixValue(dimension_values=v[:dimensions], unit_amount=amount)
                for v, amount in zip(values[: 3 if dimensions == 2 else 2], ["2.00", "2.50", "0.20"], strict=False)
            ],
            default_unit_amount="1.00",
        ),
    )


def every_model() -> list[price_pb2.Price]:
    """One price of each model and kind, with adjustments, all monthly (plus a one-time fee)."""
    return [
        fixed_fee(
            "Seats",
            "30.00",
            quantity="12",
            billing_mode=price_pb2.BILLING_MODE_IN_ARREAR,
            minimum_amount="100.00",
            maximum_amount="500.00",
            discounts=[
                percentage_off("0.1", reason="annual"),
                amount_off("5.00"),
            ],
        ),
        fixed_fee(
            "Onboarding", "250.00", cadence=price_pb2.CADENCE_ONE_TIME, billing_mode=price_pb2.BILLING_MODE_IN_ADVANCE
        ),
        usage_price(
            "API calls",
            "0.0005",
            billing_mode=price_pb2.BILLING_MODE_IN_ARREAR,
            discounts=[usage_off("1000")],
        ),
        package_price(),
        tokens_price(),
        bulk_price(),
        matrix_price(2),
        matrix_price(1),
    ]


# --- CreatePlan ---------------------------------------------------------------------------------------


async def test_create_plan_with_every_model_keeps_configs_and_enums(api: Api) -> None:
    sent = every_model()
    plan = await create_plan(
        api, *sent, name="Everything", external_plan_id=f"everything-{uuid.uuid4().hex[:8]}", metadata={"tier": "gold"}
    )
    assert plan.id.startswith("plan_")
    assert (plan.name, plan.currency, dict(plan.metadata)) == ("Everything", "USD", {"tier": "gold"})
    assert plan.created_at.seconds > 0
    assert len(plan.prices) == len(sent)
    assert len({p.id for p in plan.prices}) == len(sent)
    for got, want in zip(plan.prices, sent, strict=True):
        assert got.id.startswith("price_")
        assert got.currency == "USD"
        assert got.name == want.name
        assert (got.model_type, got.price_type, got.cadence) == (want.model_type, want.price_type, want.cadence)
        assert got.billable_metric == want.billable_metric
        assert got.unit_config == want.unit_config
        assert got.package_config == want.package_config
        assert got.tiered_config == want.tiered_config
        assert got.bulk_config == want.bulk_config
        assert got.matrix_config == want.matrix_config
        assert list(got.discounts) == list(want.discounts)
        assert (got.minimum_amount, got.maximum_amount) == (want.minimum_amount, want.maximum_amount)
        assert got.fixed_price_quantity == want.fixed_price_quantity
        if want.billing_mode:
            assert got.billing_mode == want.billing_mode
    # Spot checks of values that pass through JSON: an int64, decimal strings of any precision, open tiers.
    assert plan.prices[3].package_config.package_size == 10
    assert plan.prices[2].unit_config.unit_amount == "0.0005"
    assert plan.prices[4].tiered_config.tiers[2].last_unit == ""
    assert plan.prices[5].bulk_config.tiers[1].maximum_units == ""
    assert list(plan.prices[6].matrix_config.matrix_values[0].dimension_values) == ["us", "gpu"]


async def test_defaulted_billing_modes_come_back_explicit(api: Api) -> None:
    """Fixed fees default to in advance and usage to in arrears; the plan shows the mode that applies."""
    plan = await create_plan(api, fixed_fee(), usage_price())
    assert plan.prices[0].billing_mode == price_pb2.BILLING_MODE_IN_ADVANCE
    assert plan.prices[1].billing_mode == price_pb2.BILLING_MODE_IN_ARREAR


async def test_create_plan_in_a_zero_decimal_currency(api: Api) -> None:
    plan = await create_plan(api, fixed_fee(amount="1500", minimum_amount="1000"), currency="JPY")
    assert plan.currency == "JPY"
    assert plan.prices[0].currency == "JPY"
    assert plan.prices[0].minimum_amount == "1000"


async def test_get_plan_by_id_and_by_external_id(api: Api, other_api: Api) -> None:
    external = f"pro-{uuid.uuid4().hex[:8]}"
    plan = await create_plan(api, fixed_fee(), tokens_price(), external_plan_id=external)
    by_id = await api.plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=plan.id))
    by_external = await api.plans.GetPlan(plan_service_pb2.GetPlanRequest(external_plan_id=external))
    assert by_id == plan
    assert by_external == plan

    missing = await expect_error(api.plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id="plan_nope")))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    foreign = await expect_error(other_api.plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=plan.id)))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    foreign_external = await expect_error(
        other_api.plans.GetPlan(plan_service_pb2.GetPlanRequest(external_plan_id=external))
    )
    assert foreign_external.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [({}, "FIELD_REQUIRED"), ({"plan_id": "plan_x", "external_plan_id": "x"}, "FIELD_CONFLICT")],
    ids=["neither", "both"],
)
async def test_get_plan_needs_exactly_one_id(api: Api, request_fields: dict[str, str], reason: str) -> None:
    error = await expect_error(api.plans.GetPlan(plan_service_pb2.GetPlanRequest(**request_fields)))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert error.violation_reasons == {"plan_id": reason}
    assert set(error.field_violations) == {"plan_id"}


async def test_duplicate_external_plan_id_already_exists(api: Api, other_api: Api) -> None:
    external = f"dup-{uuid.uuid4().hex[:8]}"
    await create_plan(api, fixed_fee(), external_plan_id=external)
    error = await expect_error(api.plans.CreatePlan(plan_request(usage_price(), external_plan_id=external)))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "EXTERNAL_PLAN_ID_TAKEN")
    # External ids are unique per account only.
    other = await create_plan(other_api, fixed_fee(), external_plan_id=external)
    assert other.external_plan_id == external


async def test_request_id_replays_the_same_plan(api: Api) -> None:
    key = f"req-{uuid.uuid4().hex}"
    request = plan_request(fixed_fee(), usage_price(), request_id=key)
    first = await api.plans.CreatePlan(request)
    again = await api.plans.CreatePlan(request)
    assert again == first
    assert [p.id for p in again.prices] == [p.id for p in first.prices]
    listed = [p async for batch in api.plans.ListPlans(plan_service_pb2.ListPlansRequest()) for p in batch.plans]
    assert [p.id for p in listed] == [first.id]

    changed = plan_request(fixed_fee(amount="99.00"), usage_price(), request_id=key)
    error = await expect_error(api.plans.CreatePlan(changed))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")


# --- ListPlans ----------------------------------------------------------------------------------------


async def test_list_plans_streams_newest_first_in_batches_and_resumes(api: Api, other_api: Api) -> None:
    await create_plan(other_api, fixed_fee())  # another account's plan never shows
    created = [await create_plan(api, fixed_fee(amount=f"{n}.00"), name=f"Plan {n}") for n in range(BATCH + 7)]
    newest_first = [p.id for p in reversed(created)]

    messages = [m async for m in api.plans.ListPlans(plan_service_pb2.ListPlansRequest())]
    assert [len(m.plans) for m in messages] == [BATCH, 7]
    assert [p.id for m in messages for p in m.plans] == newest_first
    assert all(m.resume_token for m in messages)
    assert messages[0].plans[0] == created[-1]  # full plans, prices included

    resumed = [
        p.id
        async for m in api.plans.ListPlans(plan_service_pb2.ListPlansRequest(resume_token=messages[0].resume_token))
        for p in m.plans
    ]
    assert resumed == newest_first[BATCH:]

    limited = [p.id async for m in api.plans.ListPlans(plan_service_pb2.ListPlansRequest(limit=3)) for p in m.plans]
    assert limited == newest_first[:3]


async def test_list_plans_rejects_a_tampered_token(api: Api) -> None:
    await create_plan(api, fixed_fee())
    error = await expect_error(api.plans.ListPlans(plan_service_pb2.ListPlansRequest(resume_token="garbage")))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"resume_token"}


# --- validation ---------------------------------------------------------------------------------------

Mutate = Callable[[], list[price_pb2.Price]]


def _gap() -> list[price_pb2.Price]:
    price = tokens_price()
    price.tiered_config.tiers[1].first_unit = "12000"
    return [price]


def _last_tier_with_end() -> list[price_pb2.Price]:
    price = tokens_price()
    price.tiered_config.tiers[2].last_unit = "1000000"
    return [price]


def _bulk_not_increasing() -> list[price_pb2.Price]:
    price = bulk_price()
    price.bulk_config.tiers.insert(1, price_pb2.BulkTier(maximum_units="5", unit_amount="0.45"))
    return [price]


def _matrix_three_dimensions() -> list[price_pb2.Price]:
    price = matrix_price(2)
    price.matrix_config.dimensions.append("zone")
    for cell in price.matrix_config.matrix_values:
        cell.dimension_values.append("a")
    return [price]


def _matrix_short_cell() -> list[price_pb2.Price]:
    price = matrix_price(2)
    del price.matrix_config.matrix_values[1].dimension_values[1]
    return [price]


def _unknown_enum(field: str, number: int = 99, base: Callable[[], price_pb2.Price] = usage_price) -> Mutate:
    def build() -> list[price_pb2.Price]:
        price = base()
        setattr(price, field, number)
        return [price]

    return build


def _unknown_aggregation() -> list[price_pb2.Price]:
    price = usage_price()
    price.billable_metric.aggregation = 42  # type: ignore[assignment]
    return [price]


def _unknown_discount_type() -> list[price_pb2.Price]:
    price = usage_price()
    price.discounts.add(discount_type=7, amount_discount="1.00")
    return [price]


INVALID_PRICES: list[tuple[str, Mutate, set[str]]] = [
    ("missing unit config", lambda: [usage_price(unit_config=None)], {"prices[0].unit_config"}),
    (
        "missing tiered config",
        lambda: [usage_price(model_type=price_pb2.PRICE_MODEL_TYPE_TIERED, unit_config=None)],
        {"prices[0].tiered_config"},
    ),
    (
        "config of another model",
        lambda: [
            usage_price(
                bulk_config=price_pb2.BulkConfig(tiers=[price_pb2.BulkTier(unit_amount="1.00")]),
            )
        ],
        {"prices[0].bulk_config"},
    ),
    ("tier gap", _gap, {"prices[0].tiered_config.tiers[1].first_unit"}),
    ("last tier with an end", _last_tier_with_end, {"prices[0].tiered_config.tiers[2].last_unit"}),
    ("bulk tiers not increasing", _bulk_not_increasing, {"prices[0].bulk_config.tiers[1].maximum_units"}),
    ("matrix with 3 dimensions", _matrix_three_dimensions, {"prices[0].matrix_config.dimensions"}),
    (
        "matrix cell of the wrong length",
        _matrix_short_cell,
        {"prices[0].matrix_config.matrix_values[1].dimension_values"},
    ),
    ("usage price without metric", lambda: [usage_price(billable_metric=None)], {"prices[0].billable_metric"}),
    (
        "sum without property",
        lambda: [usage_price(billable=metric("llm", price_pb2.AGGREGATION_SUM))],
        {"prices[0].billable_metric.property"},
    ),
    (
        "usage billed in advance",
        lambda: [usage_price(billing_mode=price_pb2.BILLING_MODE_IN_ADVANCE)],
        {"prices[0].billing_mode"},
    ),
    (
        "percentage discount above 1",
        lambda: [
            fixed_fee(),
            usage_price(discounts=[percentage_off("1.5")]),
        ],
        {"prices[1].discounts[0].percentage_discount"},
    ),
    (
        "mixed recurring cadences",
        lambda: [fixed_fee(), usage_price(cadence=price_pb2.CADENCE_QUARTERLY)],
        {"prices"},
    ),
    ("no prices", list, {"prices"}),
    ("unknown model type", _unknown_enum("model_type"), {"prices[0].model_type"}),
    ("unknown price type", _unknown_enum("price_type", base=fixed_fee), {"prices[0].price_type"}),
    ("unknown cadence", _unknown_enum("cadence"), {"prices[0].cadence"}),
    ("unknown billing mode", _unknown_enum("billing_mode"), {"prices[0].billing_mode"}),
    ("unspecified model type", _unknown_enum("model_type", 0), {"prices[0].model_type"}),
    ("unknown aggregation", _unknown_aggregation, {"prices[0].billable_metric.aggregation"}),
    ("unknown discount type", _unknown_discount_type, {"prices[0].discounts[0].discount_type"}),
    ("price in another currency", lambda: [fixed_fee(), usage_price(currency="EUR")], {"prices[1].currency"}),
    ("bad decimal", lambda: [usage_price("Calls", "1e-3")], {"prices[0].unit_config.unit_amount"}),
    ("minimum finer than the currency", lambda: [fixed_fee(minimum_amount="1.001")], {"prices[0].minimum_amount"}),
    (
        "usage discount on a fixed fee",
        lambda: [fixed_fee(discounts=[usage_off("1")])],
        {"prices[0].discounts[0].discount_type"},
    ),
    (
        "package size zero",
        lambda: [
            usage_price(
                config=price_pb2.PackageConfig(package_amount="5.00"),
            )
        ],
        {"prices[0].package_config.package_size"},
    ),
    (
        "matrix fixed fee",
        lambda: [
            fixed_fee(
                model_type=price_pb2.PRICE_MODEL_TYPE_MATRIX,
                unit_config=None,
                matrix_config=price_pb2.MatrixConfig(dimensions=["region"], default_unit_amount="1.00"),
            )
        ],
        {"prices[0].model_type"},
    ),
]


@pytest.mark.parametrize(
    ("prices", "fields"), [(m, f) for _, m, f in INVALID_PRICES], ids=[n for n, _, _ in INVALID_PRICES]
)
async def test_invalid_prices_name_the_field(api: Api, prices: Mutate, fields: set[str]) -> None:
    error = await expect_error(api.plans.CreatePlan(plan_request(*prices())))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert_field_reasons(error)
    assert set(error.field_violations) == fields, error.field_violations
    listed = [p async for batch in api.plans.ListPlans(plan_service_pb2.ListPlansRequest()) for p in batch.plans]
    assert listed == []  # nothing was created


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"request_id": "r" * 65}, "request_id"),
    ],
)
async def test_invalid_plan_fields(api: Api, overrides: dict[str, str], field: str) -> None:
    error = await expect_error(api.plans.CreatePlan(plan_request(fixed_fee(), **overrides)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations


async def test_every_problem_is_reported_at_once(api: Api) -> None:
    bad_tiers = tokens_price()
    bad_tiers.tiered_config.tiers[1].first_unit = "12000"
    error = await expect_error(
        api.plans.CreatePlan(plan_request(usage_price(billing_mode=price_pb2.BILLING_MODE_IN_ADVANCE), bad_tiers))
    )
    assert set(error.field_violations) == {"prices[0].billing_mode", "prices[1].tiered_config.tiers[1].first_unit"}


async def test_output_only_price_fields_are_ignored_even_out_of_range(api: Api) -> None:
    """A price's id and created_at are the server's: a client's are ignored, even a Timestamp JSON cannot express."""
    price = fixed_fee(id="price_mine", created_at=timestamp_pb2.Timestamp(seconds=-62_135_596_801))
    plan = await create_plan(api, price)
    assert plan.prices[0].id.startswith("price_")
    assert plan.prices[0].id != "price_mine"
    assert plan.prices[0].created_at.seconds != -62_135_596_801


async def test_an_empty_config_of_another_model_is_no_config(api: Api) -> None:
    """`unit_config {}` on a package price is as if absent; on a unit price, the required config is missing."""
    package = package_price()
    package.unit_config.SetInParent()
    plan = await create_plan(api, package)
    assert not plan.prices[0].HasField("unit_config")
    assert plan.prices[0].package_config == package.package_config

    unit = usage_price(unit_config=price_pb2.UnitConfig())
    error = await expect_error(api.plans.CreatePlan(plan_request(unit)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"prices[0].unit_config"}
