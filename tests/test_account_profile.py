"""AccountService and `python -m server account-profile`: the seller an account's documents are from."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from invoicing.v1 import account_service_pb2, common_pb2

from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api, expect_error
from tests.support.documents import fetch_document, set_profile, text_of
from tests.support.serve import run_server_command

ADDRESS = common_pb2.Address(line1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE")
VAT = common_pb2.CustomerTaxId(country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="DE1")


async def get_profile(api: Api) -> account_service_pb2.AccountProfile:
    """GetAccountProfile."""
    profile: account_service_pb2.AccountProfile = await api.accounts.GetAccountProfile(
        account_service_pb2.GetAccountProfileRequest()
    )
    return profile


async def test_a_new_account_sells_under_its_own_name(api: Api, account: Account) -> None:
    profile = await get_profile(api)

    assert (profile.account_name, profile.name) == (account.name, account.name)
    assert (profile.email, profile.payment_instructions) == ("", "")
    assert not profile.HasField("address")
    assert not profile.HasField("tax_id")
    assert not profile.HasField("updated_at")


async def test_only_the_fields_sent_change_and_empty_values_remove(api: Api, account: Account) -> None:
    full = await set_profile(
        api, name="Nordlicht GmbH", email="rechnung@nordlicht.example", address=ADDRESS, tax_id=VAT,
        payment_instructions="IBAN DE89 3704 0044 0532 0130 00",
    )  # fmt: skip
    assert (full.name, full.email, full.address, full.tax_id) == (
        "Nordlicht GmbH", "rechnung@nordlicht.example", ADDRESS, VAT
    )  # fmt: skip
    assert full.HasField("updated_at")
    assert await get_profile(api) == full

    renamed = await set_profile(api, name="Nordlicht Analytics GmbH")
    assert renamed.name == "Nordlicht Analytics GmbH"
    assert (renamed.email, renamed.address, renamed.tax_id) == (full.email, full.address, full.tax_id)
    assert renamed.payment_instructions == full.payment_instructions

    cleared = await set_profile(api, name="", email="", address=common_pb2.Address(), tax_id=common_pb2.CustomerTaxId())
    assert cleared.name == account.name  # back to the account's name
    assert cleared.email == ""
    assert not cleared.HasField("address")
    assert not cleared.HasField("tax_id")
    assert cleared.payment_instructions == full.payment_instructions


async def test_bad_fields_are_named_and_change_nothing(api: Api) -> None:
    before = await set_profile(api, name="Kept")
    refused = await expect_error(
        api.accounts.UpdateAccountProfile(
            account_service_pb2.UpdateAccountProfileRequest(
                name="x" * 256,
                email="not an address",
                address=common_pb2.Address(country="Germany"),
                tax_id=common_pb2.CustomerTaxId(
                    country=common_pb2.TAX_ID_COUNTRY_US, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="X"
                ),
                payment_instructions="y" * 1001,
                request_id="bad request id with spaces",
            )
        )
    )
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refused.field_violations) == {
        "name", "email", "address.country", "tax_id.type", "payment_instructions", "request_id"
    }  # fmt: skip
    assert await get_profile(api) == before


async def test_a_retried_update_replays_and_a_reused_key_is_refused(api: Api) -> None:
    first = await set_profile(api, name="Once", request_id="profile-1")
    await set_profile(api, name="Meanwhile")
    replay = await set_profile(api, name="Once", request_id="profile-1")
    assert replay == first  # the stored answer, and nothing changed again
    assert (await get_profile(api)).name == "Meanwhile"

    reused = await expect_error(set_profile(api, name="Other", request_id="profile-1"))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")


async def test_concurrent_updates_all_land_on_one_profile(api: Api) -> None:
    results = await asyncio.gather(*(set_profile(api, name=f"Seller {n}") for n in range(8)))
    final = await get_profile(api)
    assert final.name in {r.name for r in results}


async def test_each_account_has_its_own_profile(api: Api, other_api: Api) -> None:
    await set_profile(api, name="Mine")
    theirs = await get_profile(other_api)
    assert theirs.name != "Mine"
    assert theirs.name == theirs.account_name


async def _cli(project_root: Path, dsn: str, *args: str) -> tuple[int, str, str]:
    """`python -m server account-profile *args` against the database dsn."""
    return await run_server_command(project_root, "account-profile", *args, limit_s=60, DATABASE_URL=dsn)


@pytest.mark.slow
@pytest.mark.timeout(300)  # four processes, 60 s each at the most
async def test_the_command_line_sets_the_profile_the_documents_print(
    api: Api, account: Account, project_root: Path, migrated_dsn: str
) -> None:
    code, out, err = await _cli(
        project_root, migrated_dsn, "--account", account.name, "--name", "株式会社テスト販売",
        "--line1", "千代田区丸の内1-1-1", "--city", "東京都", "--postal-code", "100-0005", "--country", "JP",
        "--tax-id-country", "JP", "--tax-id-type", "jp_trn", "--tax-id", "T1234567890123",
        "--email", "billing@test.example.jp", "--payment-instructions", "Bank transfer within 30 days",
    )  # fmt: skip
    assert code == 0, err
    assert "seller:   株式会社テスト販売" in out

    profile = await get_profile(api)
    assert profile.name == "株式会社テスト販売"
    assert profile.address == common_pb2.Address(
        line1="千代田区丸の内1-1-1", city="東京都", postal_code="100-0005", country="JP"
    )
    assert profile.tax_id.value == "T1234567890123"
    invoice = await create_invoice(api, await create_customer(api))
    text = text_of((await fetch_document(api, invoice.id)).data)
    for expected in ("株式会社テスト販売", "100-0005 東京都", "JP TRN T1234567890123", "Bank transfer within 30 days"):
        assert expected in text, expected

    shown = await _cli(project_root, migrated_dsn, "--account", account.name)
    assert shown[0] == 0
    assert "billing@test.example.jp" in shown[1]
    refused = await _cli(project_root, migrated_dsn, "--account", account.name, "--email", "nope")
    assert refused[0] == 2
    assert "email" in refused[2]
    missing = await _cli(project_root, migrated_dsn, "--account", "no-such-account-here", "--name", "X")
    assert missing[0] == 1
    assert (await get_profile(api)).email == "billing@test.example.jp"
