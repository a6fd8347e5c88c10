"""Demographic rules shared by decisions, upcasters and the data migration: pure Python.

The name-split rule (docs/patients.md) turns a free-text `full_name` into given, middle and
family names the way a registrar reads it. Stored events and the legacy data migration depend
on it: changing it changes how old records rebuild, so treat it as frozen.
"""

from __future__ import annotations

import re
from typing import Any

from hm_core.common.errors import ValidationFailed

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")
CONTACT_FIELDS = ("name", "relationship", "phone")


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Lower-case surname particles that belong to the family name ("Ludwig van Beethoven").
PARTICLES = _codes(
    "van von der den de del della di da dos das do du la le ten ter bin binti ibn al el"
)
ISO_3166_ALPHA2 = _codes(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW"""
)
# USPS codes: the 50 states, DC, the inhabited territories, the freely associated states and
# the armed forces' mail codes (AA/AE/AP), all of which appear on real US patient addresses.
US_STATES = _codes(
    """AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ
    NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI UM FM MH PW AA
    AE AP"""
)
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


def split_full_name(full_name: str) -> tuple[str, str, str]:
    """(given, middle, family) from free text, as a registrar reads it (docs/patients.md):
    "Family, Given Middle" with a comma; else the first word is the given name, the last word
    with the lower-case particles before it ("de la Cruz") the family name, the rest middle;
    a single word is a family name only."""
    if full_name.partition(",")[0].strip() and "," in full_name:
        family, _, rest = full_name.partition(",")
        words = rest.replace(",", " ").split()
        return " ".join(words[:1]), " ".join(words[1:]), " ".join(family.split())
    words = full_name.split()
    if len(words) <= 1:
        return "", "", "".join(words)
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in PARTICLES:
        start -= 1
    return words[0], " ".join(words[1:start]), " ".join(words[start:])


def join_name(given: str, middle: str, family: str) -> str:
    """The display name derived from the parts: "Given Middle Family"."""
    return " ".join(part for part in (given, middle, family) if part)


def legacy_address(text: str) -> dict[str, str] | None:
    """A free-text address of the first schema: all of it in `line1`, country unknown."""
    text = text.strip()
    if not text:
        return None
    return {**dict.fromkeys(ADDRESS_FIELDS, ""), "line1": text}


def normalized_address(value: Any) -> dict[str, str] | None:
    """Every key present, stripped, absent ones empty; country and US state upper-cased."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed.field("address", "must be an object with line1, city, country")
    address = {key: str(value.get(key) or "").strip() for key in ADDRESS_FIELDS}
    address["country"] = address["country"].upper()
    if address["country"] == "US":
        address["state"] = address["state"].upper()
    return address


def check_address(address: dict[str, str] | None) -> None:
    """Country is ISO 3166-1 alpha-2 (empty only for legacy and HL7 addresses without one);
    a US address has a real USPS state code and a ZIP `12345` or `12345-6789`."""
    if address is None:
        return
    problems = []
    country = address["country"]
    if country and country not in ISO_3166_ALPHA2:
        problems.append(("address.country", "must be an ISO 3166-1 alpha-2 code, e.g. US"))
    if country == "US" and address["state"] not in US_STATES:
        problems.append(("address.state", "must be a US state or territory code, e.g. NY"))
    if country == "US" and not US_ZIP.match(address["postal_code"]):
        problems.append(("address.postal_code", "must be a US ZIP code: 12345 or 12345-6789"))
    if problems:
        raise ValidationFailed(
            "The address is not valid.",
            details=[{"field": field, "message": message} for field, message in problems],
        )


def normalized_contact(value: Any) -> dict[str, str] | None:
    """An emergency contact with every key present and stripped; None when not given."""
    if not value:
        return None
    return {key: str(value.get(key) or "").strip() for key in CONTACT_FIELDS}
