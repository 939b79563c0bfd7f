"""Tax ids: which (country, type) pairs Orb supports (seed table), and their checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from server.domain.errors import Violations

MAX_TAX_ID_VALUE_LENGTH: Final = 64


@dataclass(frozen=True)
class TaxId:
    """A customer tax id: country code ("DE", "EU"), type code ("eu_vat") and value."""

    country: str
    type: str
    value: str


# For each tax id type, the countries that issue it.
ALLOWED_TAX_ID_COUNTRIES: Final[Mapping[str, frozenset[str]]] = {
    "ad_nrt": frozenset({"AD"}),
    "ae_trn": frozenset({"AE"}),
    "ar_cuit": frozenset({"AR"}),
    "au_abn": frozenset({"AU"}),
    "au_arn": frozenset({"AU"}),
    "bg_uic": frozenset({"BG"}),
    "bh_vat": frozenset({"BH"}),
    "bo_tin": frozenset({"BO"}),
    "br_cnpj": frozenset({"BR"}),
    "br_cpf": frozenset({"BR"}),
    "ca_bn": frozenset({"CA"}),
    "ca_gst_hst": frozenset({"CA"}),
    "ca_pst_bc": frozenset({"CA"}),
    "ca_pst_mb": frozenset({"CA"}),
    "ca_pst_sk": frozenset({"CA"}),
    "ca_qst": frozenset({"CA"}),
    "ch_vat": frozenset({"CH"}),
    "cl_tin": frozenset({"CL"}),
    "cn_tin": frozenset({"CN"}),
    "co_nit": frozenset({"CO"}),
    "cr_tin": frozenset({"CR"}),
    "do_rcn": frozenset({"DO"}),
    "ec_ruc": frozenset({"EC"}),
    "eg_tin": frozenset({"EG"}),
    "es_cif": frozenset({"ES"}),
    "eu_oss_vat": frozenset({"EU"}),
    "eu_vat": frozenset(
        {
            "AT",
            "BE",
            "BG",
            "CY",
            "CZ",
            "DE",
            "DK",
            "EE",
            "ES",
            "FI",
            "FR",
            "GB",
            "GR",
            "HR",
            "HU",
            "IE",
            "IT",
            "LT",
            "LU",
            "LV",
            "MT",
            "NL",
            "PL",
            "PT",
            "RO",
            "SE",
            "SI",
            "SK",
        }
    ),
    "gb_vat": frozenset({"GB"}),
    "ge_vat": frozenset({"GE"}),
    "hk_br": frozenset({"HK"}),
    "hu_tin": frozenset({"HU"}),
    "id_npwp": frozenset({"ID"}),
    "il_vat": frozenset({"IL"}),
    "in_gst": frozenset({"IN"}),
    "is_vat": frozenset({"IS"}),
    "jp_cn": frozenset({"JP"}),
    "jp_rn": frozenset({"JP"}),
    "jp_trn": frozenset({"JP"}),
    "ke_pin": frozenset({"KE"}),
    "kr_brn": frozenset({"KR"}),
    "kz_bin": frozenset({"KZ"}),
    "li_uid": frozenset({"LI"}),
    "mx_rfc": frozenset({"MX"}),
    "my_frp": frozenset({"MY"}),
    "my_itn": frozenset({"MY"}),
    "my_sst": frozenset({"MY"}),
    "ng_tin": frozenset({"NG"}),
    "no_vat": frozenset({"NO"}),
    "no_voec": frozenset({"NO"}),
    "nz_gst": frozenset({"NZ"}),
    "om_vat": frozenset({"OM"}),
    "pe_ruc": frozenset({"PE"}),
    "ph_tin": frozenset({"PH"}),
    "ro_tin": frozenset({"RO"}),
    "rs_pib": frozenset({"RS"}),
    "ru_inn": frozenset({"RU"}),
    "ru_kpp": frozenset({"RU"}),
    "sa_vat": frozenset({"SA"}),
    "sg_gst": frozenset({"SG"}),
    "sg_uen": frozenset({"SG"}),
    "si_tin": frozenset({"SI"}),
    "sv_nit": frozenset({"SV"}),
    "th_vat": frozenset({"TH"}),
    "tr_tin": frozenset({"TR"}),
    "tw_vat": frozenset({"TW"}),
    "ua_vat": frozenset({"UA"}),
    "us_ein": frozenset({"US"}),
    "uy_ruc": frozenset({"UY"}),
    "ve_rif": frozenset({"VE"}),
    "vn_tin": frozenset({"VN"}),
    "za_vat": frozenset({"ZA"}),
}


def check_tax_id(tax_id: TaxId, field: str, violations: Violations) -> None:
    """Country and type set, a supported pair, and a short printable value."""
    if not tax_id.country:
        violations.add(f"{field}.country", "is required")
    if not tax_id.type:
        violations.add(f"{field}.type", "is required")
    if tax_id.country and tax_id.type and tax_id.country not in ALLOWED_TAX_ID_COUNTRIES.get(tax_id.type, ()):
        violations.add(f"{field}.type", f"{tax_id.type} is not a tax id type of country {tax_id.country}")
    value = tax_id.value.strip()
    if not value:
        violations.add(f"{field}.value", "is required")
    elif len(value) > MAX_TAX_ID_VALUE_LENGTH or not value.isprintable():
        violations.add(f"{field}.value", f"must be at most {MAX_TAX_ID_VALUE_LENGTH} printable characters")
