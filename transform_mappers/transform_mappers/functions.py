"""Domain functions that mapping expressions may call, each with the JSON schema of what it returns.

Every function is total on `None` (returns `None`), so a missing Salesforce field simply leaves the NetSuite field
out. A value a function cannot map raises `MappingValueError` with the value in the message: the mapper then passes
the record on flagged (`_sdc_mapping_error`) instead of guessing or dropping it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pycountry

from transform_mappers.settings import DEFAULTS

Schema = dict[str, Any]


class MappingValueError(ValueError):
    """A record value that a mapping function cannot turn into a NetSuite value."""


# Names people type into CRM country fields that pycountry's names and codes do not cover.
# Keys are in `_norm` form (accents removed, case-folded, punctuation dropped; other scripts kept).
COUNTRY_ALIASES: dict[str, str] = {
    "usa": "US", "us": "US", "united states": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "united kingdom": "GB",
    "deutschland": "DE", "bundesrepublik deutschland": "DE", "brd": "DE",
    "holland": "NL", "the netherlands": "NL", "nederland": "NL",
    "osterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "espana": "ES", "italia": "IT",
    "brasil": "BR", "mexico": "MX", "belgie": "BE", "belgique": "BE", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "polska": "PL", "eire": "IE", "republic of ireland": "IE",
    "russia": "RU", "south korea": "KR", "korea": "KR", "republic of korea": "KR", "north korea": "KP",
    "czech republic": "CZ", "czechia": "CZ", "vietnam": "VN", "iran": "IR", "syria": "SY", "laos": "LA",
    "taiwan": "TW", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "macedonia": "MK",
    "ivory coast": "CI", "cote divoire": "CI", "cape verde": "CV", "swaziland": "SZ", "burma": "MM",
    "turkey": "TR", "turkiye": "TR", "uae": "AE", "emirates": "AE", "hong kong": "HK", "macau": "MO",
    "prc": "CN", "china": "CN", "peoples republic of china": "CN", "nippon": "JP", "japan": "JP",
    "vatican": "VA", "palestine": "PS", "brunei": "BN", "micronesia": "FM", "kosovo": "XK",
    "日本": "JP", "中国": "CN", "中华人民共和国": "CN", "대한민국": "KR", "한국": "KR", "россия": "RU",
    "ελλαδα": "GR", "hellas": "GR", "ceska republika": "CZ", "magyarorszag": "HU",
}


def _norm(value: str) -> str:
    """Fold case, accents and punctuation so "U.S.", "u s" and "US" compare equal."""
    decomposed = unicodedata.normalize("NFKD", value)
    text = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    text = re.sub("[.'\u2019`]", "", text)  # U+2019: the typographic apostrophe
    return re.sub(r"[\W_]+", " ", text).strip()


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            if name := getattr(country, attr, None):
                index.setdefault(_norm(name), country.alpha_2)
    index.update(COUNTRY_ALIASES)
    index["xk"] = "XK"
    return index


@lru_cache(maxsize=4096)
def iso_country(value: str | None) -> str | None:
    """Country name, alias or ISO code in any case → ISO 3166-1 alpha-2, as NetSuite's address `country` wants."""
    if value is None or not str(value).strip():
        return None
    code = _country_index().get(_norm(str(value)))
    if code is None:
        msg = f"cannot resolve country {value!r} to an ISO code"
        raise MappingValueError(msg)
    return code


@lru_cache(maxsize=1)
def _subdivision_index() -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {}
    for country in ("US", "CA"):
        names: dict[str, str] = {}
        for sub in pycountry.subdivisions.get(country_code=country) or []:
            short = sub.code.split("-", 1)[1]
            names[_norm(short)] = short
            names[_norm(sub.code)] = short
            names[_norm(sub.name)] = short
        index[country] = names
    index["CA"].update({"quebec": "QC", "newfoundland": "NL", "pei": "PE", "yukon territory": "YT"})
    index["US"].update({"washington dc": "DC", "dc": "DC", "d c": "DC"})
    return index


@lru_cache(maxsize=4096)
def state_code(country: str | None, state: str | None) -> str | None:
    """US/CA state or province name → its postal code ("California" → "CA"); other countries' states unchanged."""
    if state is None or not str(state).strip():
        return None
    try:
        code = iso_country(country)
    except MappingValueError:
        code = None  # the country leaf reports it; a state alone is not a second error
    names = _subdivision_index().get(code or "")
    if names is None:
        return str(state).strip()
    short = names.get(_norm(str(state)))
    if short is None:
        msg = f"cannot resolve state {state!r} in country {code}"
        raise MappingValueError(msg)
    return short


def truncate(value: Any, length: int) -> str | None:
    """Cut text to a NetSuite field length (in characters, as NetSuite counts them)."""
    if value is None:
        return None
    text = str(value)
    return text[:length] if len(text) > length else text


def ns_date(value: Any, timezone: str = "UTC") -> str | None:
    """Salesforce date or datetime → NetSuite date `YYYY-MM-DD` (datetimes converted to `timezone` first)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) == 10:
        return dt.date.fromisoformat(text).isoformat()
    # Salesforce REST writes "+0000"; Python 3.11 parses that, "Z" and "+00:00" alike.
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"not a date or datetime: {value!r}"
        raise MappingValueError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def ref(record_type: str, sf_id: str | None) -> dict[str, str] | None:
    """Reference to another NetSuite record by its Salesforce Id; the target resolves it to an internal id."""
    if sf_id is None or sf_id == "":
        return None
    return {"externalId": str(sf_id), "type": record_type}


def negate(value: Any) -> bool | None:
    """Boolean negation that keeps `None` (unknown stays unknown, so the field is left out)."""
    return None if value is None else not value


def coalesce(*values: Any) -> Any:
    """The first value that is neither null nor blank text."""
    for value in values:
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def line(value: Any, number: int, *, rest: bool = False) -> str | None:
    """Line `number` (1-based) of multi-line text such as BillingStreet → addr1/addr2/addr3; blank lines skipped.

    With `rest=True`, that line and all after it joined by ", " (so a 5-line street loses nothing in addr3).
    """
    if value is None:
        return None
    lines = [part.strip() for part in str(value).splitlines() if part.strip()]
    if not 0 < number <= len(lines):
        return None
    return ", ".join(lines[number - 1:]) if rest else lines[number - 1]


def number(value: Any) -> Decimal | None:
    """Text or number → exact decimal number (no float rounding of money)."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        msg = f"not a number: {value!r}"
        raise MappingValueError(msg) from None


def unit_rate(total: Any, quantity: Any) -> Decimal | None:
    """A line's net unit price: its total (Salesforce's TotalPrice, after the discount) / its quantity, exact to 8
    decimals (half up). Sent as the NetSuite rate next to the amount, so the amount stays Salesforce's own number."""
    amount, count = number(total), number(quantity)
    if amount is None or count is None:
        return None
    if count == 0:
        msg = f"quantity is 0, so a line total of {amount} has no unit rate"
        raise MappingValueError(msg)
    rate = (amount / count).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP).normalize()
    return rate.quantize(Decimal(1)) if rate.as_tuple().exponent > 0 else rate  # type: ignore[operator]


#: ISO 4217 currencies whose minor unit is not 2 decimal places (all others have 2).
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def currency_precision(iso_code: Any) -> int | None:
    """Decimal places of an ISO 4217 currency ("JPY" → 0, "BHD" → 3, "EUR" → 2), for the order-total check."""
    if iso_code is None or not str(iso_code).strip():
        return None
    code = str(iso_code).strip().upper()
    if not re.fullmatch("[A-Z]{3}", code):
        msg = f"not an ISO 4217 currency code: {iso_code!r}"
        raise MappingValueError(msg)
    return _MINOR_UNITS.get(code, 2)


_LOOKUP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def lookup(record_type: str, value: Any, by: str = "name", default: Any = None) -> dict[str, str] | None:
    """A NetSuite record found by a name or code instead of an internal id: `lookup("currency", CurrencyIsoCode,
    by="symbol")`. The mapper cannot ask NetSuite, so this returns the lookup marker `{"type", "by", "value"}`
    that the target resolves to `{"id": ...}` (docs/interfaces.md). A blank value gives `{"id": default}` when a
    default internal id is given (e.g. `config["currency_id"]` in a single-currency org), else None."""
    for what, name in (("record type", record_type), ("field", by)):
        if not isinstance(name, str) or not _LOOKUP_NAME.fullmatch(name):
            msg = f"lookup {what} must be a plain name, got {name!r}"
            raise MappingValueError(msg)
    text = " ".join(str(value).split()) if value is not None else ""
    if not text:
        return None if default is None or str(default) == "" else {"id": str(default)}
    return {"type": record_type, "by": by, "value": text}


@dataclass(frozen=True)
class FunctionSpec:
    """A function callable from expressions and how to type its result in the output schema."""

    fn: Callable[..., Any]
    schema: Schema | Callable[[list[Schema]], Schema]
    #: Types the result from the argument and keyword-argument schemas (takes precedence over `schema`).
    keyword_schema: Callable[[list[Schema], dict[str, Schema]], Schema] | None = None

    def result_schema(self, arg_schemas: list[Schema], keyword_schemas: dict[str, Schema] | None = None) -> Schema:
        """Schema of the result, given the schemas inferred for the arguments."""
        if self.keyword_schema is not None:
            return self.keyword_schema(arg_schemas, keyword_schemas or {})
        return self.schema(arg_schemas) if callable(self.schema) else self.schema


def _picklist_schema(picklists: Mapping[str, Mapping[str, Any]], arg_schemas: list[Schema]) -> Schema:
    """Type a picklist lookup by the values of the named picklist (its name is a constant argument)."""
    name = arg_schemas[1].get("const") if len(arg_schemas) > 1 else None
    table = picklists.get(name) if isinstance(name, str) else None
    kinds = {_JSON_TYPES.get(type(v), "string") for v in (table or {}).values() if v is not None}
    return {"type": [*sorted(kinds), "null"]} if kinds else {}


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", Decimal: "number"}


def _first_arg_schema(arg_schemas: list[Schema]) -> Schema:
    return arg_schemas[0] if arg_schemas else {}


STRING: Schema = {"type": ["string", "null"]}
BOOLEAN: Schema = {"type": ["boolean", "null"]}
NUMBER: Schema = {"type": ["number", "null"]}
INTEGER: Schema = {"type": ["integer", "null"]}
REFERENCE: Schema = {
    "type": ["object", "null"],
    "properties": {"externalId": {"type": "string"}, "type": {"type": "string"}},
}


def _lookup_schema(arg_schemas: list[Schema], keyword_schemas: dict[str, Schema]) -> Schema:
    """The lookup marker, or `{"id": default}`: a default that is a setting keeps its `const`, so the target
    checks at start-up that this fixed fallback id exists (fixed_ids.py)."""
    default = keyword_schemas.get("default") or (arg_schemas[3] if len(arg_schemas) > 3 else None)
    id_schema: Schema = {"type": "string"}
    if default and default.get("const") is not None:
        id_schema["const"] = str(default["const"])
    return {
        "type": ["object", "null"],
        "properties": {"type": {"type": "string"}, "by": {"type": "string"}, "value": {"type": "string"},
                       "id": id_schema},
    }


@dataclass(frozen=True)
class FunctionSettings:
    """The mapper settings that shape the domain functions."""

    default_phone_region: str = DEFAULTS["default_phone_region"]
    phone_format: str = DEFAULTS["phone_format"]
    picklists: Mapping[str, Mapping[str, Any]] | None = None


def build_functions(settings: FunctionSettings) -> dict[str, FunctionSpec]:
    """All functions expressions may call, bound to the mapper's settings."""
    picklists = settings.picklists or {}
    phone_format = (
        phonenumbers.PhoneNumberFormat.E164
        if settings.phone_format.lower() == "e164"
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )

    def phone(value: Any, country: str | None = None) -> str | None:
        """Phone number as typed in Salesforce → international (or E.164) format.

        A number without a country code is read as a number of `country` (any form iso_country accepts, e.g. the
        record's BillingCountry), then of `default_phone_region`; the first region where it is a valid number
        formats it. A number that is only possible there is passed on as typed rather than reformatted wrongly.
        Text that cannot be a phone number in either region flags the record.
        """
        if value is None or not str(value).strip():
            return None
        text = str(value).strip()
        try:
            region = iso_country(country) or settings.default_phone_region
        except MappingValueError:
            region = settings.default_phone_region
        possible = False
        for candidate in dict.fromkeys((region, settings.default_phone_region)):
            try:
                parsed = phonenumbers.parse(text, candidate)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(parsed, phone_format)
            possible = possible or phonenumbers.is_possible_number(parsed)
        if possible:
            return text
        msg = f"not a phone number: {value!r}"
        raise MappingValueError(msg)

    # Parsing is the costliest step of a mapping (~0.2 ms); switchboard numbers repeat across contacts and runs.
    phone = lru_cache(maxsize=16_384)(phone)

    def picklist(value: Any, mapping_name: str) -> Any:
        """Salesforce picklist value → NetSuite value via the `picklists` setting (`__default__` for others)."""
        if value is None:
            return None
        table = picklists.get(mapping_name)
        if table is None:
            msg = f"no picklist named {mapping_name!r} in the picklists setting"
            raise MappingValueError(msg)
        if str(value) in table:
            return table[str(value)]
        if "__default__" in table:
            return table["__default__"]
        msg = f"value {value!r} is not in picklist {mapping_name!r}"
        raise MappingValueError(msg)

    return {
        "iso_country": FunctionSpec(iso_country, STRING),
        "state_code": FunctionSpec(state_code, STRING),
        "phone": FunctionSpec(phone, STRING),
        "truncate": FunctionSpec(truncate, STRING),
        "picklist": FunctionSpec(picklist, lambda args: _picklist_schema(picklists, args)),
        "ns_date": FunctionSpec(ns_date, {"type": ["string", "null"], "format": "date"}),
        "ref": FunctionSpec(ref, REFERENCE),
        "lookup": FunctionSpec(lookup, {}, keyword_schema=_lookup_schema),
        "currency_precision": FunctionSpec(currency_precision, INTEGER),
        "negate": FunctionSpec(negate, BOOLEAN),
        "coalesce": FunctionSpec(coalesce, _first_arg_schema),
        "line": FunctionSpec(line, STRING),
        "number": FunctionSpec(number, NUMBER),
        "unit_rate": FunctionSpec(unit_rate, NUMBER),
        "str": FunctionSpec(lambda v: None if v is None else str(v), STRING),
        "int": FunctionSpec(int, INTEGER),
        "float": FunctionSpec(float, NUMBER),
        "bool": FunctionSpec(bool, BOOLEAN),
        "len": FunctionSpec(len, INTEGER),
        "round": FunctionSpec(round, NUMBER),
        "abs": FunctionSpec(abs, _first_arg_schema),
        "min": FunctionSpec(min, _first_arg_schema),
        "max": FunctionSpec(max, _first_arg_schema),
    }
