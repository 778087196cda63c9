"""Deterministic generated org data: same seed and volumes, same rows, byte for byte.

Rows are produced one at a time by generators (never a list of all rows), so the store can insert them in
batches and a million Accounts fit in flat memory. Ids are derived from each object's running counter, so a
Contact can point at Account n without the Accounts being held anywhere. The variety is the kind that breaks
connectors: unicode, empty strings next to nulls, multi-line and long text, free-text countries and states,
and quotes/commas/newlines that CSV must survive. Timestamps lie in a fixed past window, so a seed also fixes them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandbox.salesforce import pricing
from sandbox.salesforce.schema import ORG_CURRENCIES, SUBSIDIARY_FIELD
from sandbox.salesforce.values import make_id

WINDOW_START_MS = int(dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()) * 1000
WINDOW_END_MS = int(dt.datetime(2025, 12, 31, tzinfo=dt.UTC).timestamp()) * 1000
DAY_MS = 86_400_000
INTEGRATION_USERNAME = "integration@example.com"


@dataclass(frozen=True)
class Volumes:
    """How many rows of each object a seed makes."""

    seed: int = 42
    accounts: int = 50
    contacts: int = 100
    products: int = 20
    opportunities: int = 30
    invoices: int = 20
    users: int = 5
    shared_modstamp_accounts: int = 0
    account_fields: int = 0  # metadata.py: total Account fields; above the standard ones, Wide_Field_NNNN__c
    currencies: int = 0  # 0: a single-currency org; N: multi-currency, the first N of schema.ORG_CURRENCIES
    subsidiaries: int = 0  # 0: no Subsidiary__c; N: Accounts carry it (about one in N) and messier billing countries


# (country as users type it, city, state as typed or None, postal code)
_PLACES: tuple[tuple[str | None, str, str | None, str | None], ...] = (
    ("United States", "San Francisco", "CA", "94105"),
    ("USA", "Austin", "Texas", "78701"),
    ("U.S.", "New York", "NY", "10001"),
    ("US", "Seattle", "Washington", "98101"),
    ("United States of America", "Chicago", "IL", "60601"),
    ("usa", "Boston", "Massachusetts", "02108"),
    ("Canada", "Toronto", "Ontario", "M5H 2N2"),
    ("CA", "Montréal", "QC", "H2Y 1C6"),
    ("Canada", "Vancouver", "British Columbia", "V6B 1A1"),
    ("Deutschland", "München", "Bayern", "80331"),
    ("Germany", "Berlin", None, "10115"),
    ("DE", "Köln", None, "50667"),
    ("UK", "London", None, "EC1A 1BB"),
    ("United Kingdom", "Manchester", None, "M1 1AE"),
    ("Great Britain", "Edinburgh", "Scotland", "EH1 1YZ"),
    ("France", "Paris", None, "75001"),
    ("España", "Sevilla", "Andalucía", "41001"),
    ("México", "Ciudad de México", "CDMX", "06000"),
    ("Japan", "東京", "東京都", "100-0001"),
    ("日本", "大阪市", "大阪府", "530-0001"),
    ("Brasil", "São Paulo", "SP", "01000-000"),
    ("Schweiz", "Zürich", "ZH", "8001"),
    ("Österreich", "Wien", None, "1010"),
    ("Nederland", "Amsterdam", "Noord-Holland", "1012 JS"),
    ("India", "Bengaluru", "Karnataka", "560001"),
    ("Australia", "Sydney", "NSW", "2000"),
    ("", "Springfield", "", ""),
    (None, "Unknown City", None, None),
)
_STREETS = ("1 Market St", "500 Oracle Pkwy", "Hauptstraße 5", "12 Rue de Rivoli", "Calle Mayor 3",
            "742 Evergreen Terrace", "1-1 Chiyoda", "Suite 400\n100 Main Street", "Bahnhofstrasse 1",
            "PO Box 123", "Av. Paulista, 1578", "10 Downing St")
_NAME_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
               "Hooli", "Vandelay", "Nordwind", "Bergmann", "Lumière", "Sakura", "Aurora", "Polar", "Quantum",
               "Evergreen", "Blue Ridge", "Northwind", "Contoso", "Fabrikam")
_NAME_SUFFIX = ("Inc.", "LLC", "Ltd", "GmbH", "S.A.", "K.K.", "AG", "Corp.", "& Co.", "plc", "", "Holdings")
_ODD_NAMES = ("Müller & Söhne GmbH", "Café Ñandú S.A.", "株式会社サンプル", "Zürich Versicherungs-AG",
              "O'Brien \"Quality\" Supplies, LLC", "Smith, Jones & Partners", "🚀 Rocket Labs",
              "Łódź Tech Sp. z o.o.", "Ελληνική Εταιρεία Α.Ε.", "Компания Рога и Копыта", "  Padded Name  ",  # noqa: RUF001
              "Line\nBreak Industries")
_FIRST = ("James", "María", "Jürgen", "Zoë", "Anaïs", "Søren", "Hiroshi", "Wei", "Olúwaṣeun", "Siobhán", "Ana",
          "John", "Priya", "Mohammed", "Élodie", "Björk", "李", "Nguyễn", "Chloé", "Łukasz")
_LAST = ("Smith", "García", "Müller", "O'Neil", "Dupont", "Nakamura", "Kowalski", "Rossi", "Johansson", "Silva",
         "Ng", "van der Berg", "MacDonald", "Østergaard", "Fernández-López", "田中", "Smith-Jones", "Ivanova")
_PHONES = ("(415) 555-{n:04d}", "+1 415 555 {n:04d}", "+49 30 {n:06d}", "555.{n:04d}", "+44 20 7946 {n:04d}",
           "+81-3-1234-{n:04d}", "1-800-{n:07d}", "")
_PRODUCTS = ("GenWatt Diesel 200kW", "GenWatt Gasoline 750kW", "Installation: Portable", "SLA: Gold",
             "SLA: Platinum", "Wärmepumpe Typ 3", "Widget – deluxe", "Licence Seat (annual)", "Support Hour",  # noqa: RUF001
             "Cable 5m \"pro\"", "Sensor, outdoor", "サーバー保守")
_LOREM = ("Long-standing customer with multiple sites. ", "Prefers invoices by post.\n",
          "Übernahme durch Konzern geplant; Ansprechpartner wechselt. ", "Notes: \"VIP\" — handle with care, ",
          "Key contact on leave until Q3.\n\n", "雇用者数は増加傾向。", "Requires PO numbers on every invoice; ")


def _pick(rng: random.Random, options: Sequence[Any]) -> Any:
    """`rng.choice`, about three times faster: generation speed is what makes a million rows practical."""
    return options[int(rng.random() * len(options))]


def _randint(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _randrange(rng: random.Random, low: int, high: int | None = None) -> int:
    if high is None:
        low, high = 0, low
    return low + int(rng.random() * (high - low))


class _Clock:
    """Created/modified stamps inside the fixed window, second precision like the real API."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def stamps(self) -> tuple[int, int]:
        created = _randrange(self.rng, WINDOW_START_MS, WINDOW_END_MS - 200 * DAY_MS) // 1000 * 1000
        if self.rng.random() < 0.3:
            return created, created
        modified = created + _randrange(self.rng, 0, 180 * DAY_MS) // 1000 * 1000
        return created, modified


@lru_cache(maxsize=256)
def user_id(number: int) -> str:
    """User ids repeat on every row (owner, creator, modifier): computed once each."""
    return make_id("005", number)


def _audit(rng: random.Random, clock: _Clock, users: int, owner: bool = True) -> dict[str, Any]:
    created, modified = clock.stamps()
    row = {"CreatedDate": created, "CreatedById": user_id(_randint(rng, 1, users)), "LastModifiedDate": modified,
           "LastModifiedById": user_id(_randint(rng, 1, users)), "SystemModstamp": modified, "IsDeleted": 0}
    if owner:
        row["OwnerId"] = user_id(_randint(rng, 1, users))
    return row


def _maybe(rng: random.Random, value: Any, null_rate: float = 0.15, empty: bool = False) -> Any:
    """Value, or null (or an empty string for text when `empty`), at about the given rate."""
    roll = rng.random()
    if roll < null_rate:
        return "" if empty and roll < null_rate / 3 else None
    return value


def _company(rng: random.Random, index: int) -> str:
    if rng.random() < 0.15:
        return _pick(rng, _ODD_NAMES) + ("" if rng.random() < 0.5 else f" {index}")
    suffix = _pick(rng, _NAME_SUFFIX)
    return f"{_pick(rng, _NAME_WORDS)} {_pick(rng, _NAME_WORDS)} {suffix}".strip() + f" #{index}"


def _phone(rng: random.Random) -> str | None:
    return _maybe(rng, _pick(rng, _PHONES).format(n=_randrange(rng, 10_000)), 0.2)


def _long_text(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.4:
        return None
    if roll < 0.45:
        return ""
    repeats = _pick(rng, (1, 2, 5, 40, 400)) if roll > 0.9 else _randint(rng, 1, 4)
    return "".join(_pick(rng, _LOREM) for _ in range(repeats))[:32000]


def _address(rng: random.Random, prefix: str) -> dict[str, Any]:
    country, city, state, postal = _pick(rng, _PLACES)
    has = rng.random() > 0.1
    return {
        f"{prefix}Street": _pick(rng, _STREETS) if has else None,
        f"{prefix}City": city if has else None,
        f"{prefix}State": state if has else None,
        f"{prefix}PostalCode": postal if has else None,
        f"{prefix}Country": country if has else None,
        f"{prefix}Latitude": round(rng.uniform(-60, 70), 6) if has and rng.random() < 0.3 else None,
        f"{prefix}Longitude": round(rng.uniform(-170, 170), 6) if has and rng.random() < 0.3 else None,
        f"{prefix}GeocodeAccuracy": None,
    }


def users(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:User")
    for n in range(1, volumes.users + 1):
        first, last = ("Integration", "User") if n == 1 else (_pick(rng, _FIRST), _pick(rng, _LAST))
        username = INTEGRATION_USERNAME if n == 1 else f"user{n}@example.com"
        created = WINDOW_START_MS - 30 * DAY_MS + n * 1000
        yield {
            "Id": make_id("005", n), "Username": username, "LastName": last, "FirstName": first,
            "Name": f"{first} {last}", "CompanyName": "Sandbox Org", "Email": username,
            "Alias": (first[:1] + last[:4]).lower()[:8], "IsActive": 1, "TimeZoneSidKey": "America/Los_Angeles",
            "LanguageLocaleKey": "en_US", "CreatedDate": created, "CreatedById": make_id("005", 1),
            "LastModifiedDate": created, "LastModifiedById": make_id("005", 1), "SystemModstamp": created,
            "IsDeleted": 0,
        }


def account_currency(volumes: Volumes, account: int) -> dict[str, str]:
    """`{"CurrencyIsoCode": ...}` of an Account in a multi-currency org (nothing in a single-currency org), from its
    own generator so that the other seeded values stay as they were: about half in the corporate currency."""
    if not volumes.currencies:
        return {}
    held = ORG_CURRENCIES[: volumes.currencies]
    rng = random.Random(f"{volumes.seed}:currency:{account}")
    return {"CurrencyIsoCode": held[0] if rng.random() < 0.4 else rng.choice(held)}


#: What people put in Subsidiary__c (a value typed unlike the picklist's, as the API allows) and the country forms a
#: OneWorld org's Accounts add ("U.S.A.", blanks).
_SUBSIDIARY_VALUES = ("UK Ltd", "Japan KK", "Global", "uk ltd ", "JAPAN  KK")
_ROUTED_COUNTRIES = ("U.S.A.", "United Kingdom", "UK", "Japan", "日本", "", None)


def account_subsidiary(volumes: Volumes, account: int) -> dict[str, Any]:
    """`Subsidiary__c` (and sometimes a re-typed BillingCountry) of an Account in an org with subsidiaries, from
    its own generator so that the other seeded values stay as they were."""
    if not volumes.subsidiaries:
        return {}
    rng = random.Random(f"{volumes.seed}:subsidiary:{account}")
    values: dict[str, Any] = {SUBSIDIARY_FIELD: _pick(rng, _SUBSIDIARY_VALUES)
                              if rng.random() < 1 / max(volumes.subsidiaries, 1) else None}
    if rng.random() < 0.5:  # the state typed for the old country would not be one of the new one's
        values.update(BillingCountry=_pick(rng, _ROUTED_COUNTRIES), BillingState=None)
    return values


def accounts(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:Account")
    clock = _Clock(rng)
    for n in range(1, volumes.accounts + 1):
        billing = _address(rng, "Billing")
        shipping = dict(billing) if rng.random() < 0.6 else _address(rng, "Shipping")
        shipping = {key.replace("Billing", "Shipping"): value for key, value in shipping.items()}
        yield {
            "Id": make_id("001", n), **_audit(rng, clock, volumes.users),
            "MasterRecordId": None, "Name": _company(rng, n),
            "Type": _maybe(rng, _pick(rng, ("Prospect", "Customer - Direct", "Customer - Channel", "Other"))),
            "ParentId": make_id("001", _randint(rng, 1, n - 1)) if n > 1 and rng.random() < 0.1 else None,
            **billing, **shipping,
            "Phone": _phone(rng), "Fax": _maybe(rng, _pick(rng, _PHONES).format(n=n % 10_000), 0.7),
            "AccountNumber": _maybe(rng, f"CD{_randrange(rng, 100000, 999999)}", 0.3, empty=True),
            "Website": _maybe(rng, _pick(rng, ("www.example.com", "https://acme.example", "http://müller.example.de",
                                               "example.org/path?q=1")), 0.3),
            "Industry": _maybe(rng, _pick(rng, ("Banking", "Technology", "Retail", "Energy", "Healthcare")), 0.3),
            "AnnualRevenue": _maybe(rng, float(_randrange(rng, 10_000, 500_000_000)), 0.4),
            "NumberOfEmployees": _maybe(rng, _randrange(rng, 1, 250_000), 0.3),
            "Description": _long_text(rng),
            "Rating": _maybe(rng, _pick(rng, ("Hot", "Warm", "Cold")), 0.5),
            "LastActivityDate": None,
            "CustomerPriority__c": _maybe(rng, _pick(rng, ("High", "Low", "Medium")), 0.4),
            "NumberofLocations__c": _maybe(rng, float(_randint(rng, 1, 120)), 0.4),
            "SLAExpirationDate__c": _maybe(rng, f"20{_randint(rng, 24, 27)}-{_randint(rng, 1, 12):02d}-"
                                                f"{_randint(rng, 1, 28):02d}", 0.5),
            "Active__c": _maybe(rng, _pick(rng, ("Yes", "No")), 0.3),
            **account_currency(volumes, n),
            **account_subsidiary(volumes, n),
        }


def contacts(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:Contact")
    clock = _Clock(rng)
    for n in range(1, volumes.contacts + 1):
        first, last = _maybe(rng, _pick(rng, _FIRST), 0.05), _pick(rng, _LAST)
        email_user = f"{(first or 'x')[:1]}.{last}".lower().replace(" ", "").replace("'", "")
        yield {
            "Id": make_id("003", n), **_audit(rng, clock, volumes.users), "MasterRecordId": None,
            "AccountId": make_id("001", _randint(rng, 1, volumes.accounts))
            if volumes.accounts and rng.random() > 0.05 else None,
            "LastName": last, "FirstName": first, "Salutation": _maybe(rng, _pick(rng, ("Mr.", "Ms.", "Dr.")), 0.5),
            "Name": f"{first} {last}" if first else last,
            **_address(rng, "Mailing"),
            "Phone": _phone(rng), "Fax": None, "MobilePhone": _phone(rng),
            "Email": _maybe(rng, f"{email_user}{n}@example.com", 0.1),
            "Title": _maybe(rng, _pick(rng, ("CEO", "CFO", "Einkäufer", "VP, Sales", "Buyer")), 0.3),
            "Department": _maybe(rng, _pick(rng, ("Finance", "Procurement", "IT")), 0.5),
            "Birthdate": _maybe(rng, f"19{_randint(rng, 50, 99)}-{_randint(rng, 1, 12):02d}-{_randint(rng, 1, 28):02d}",
                                0.6),
            "Description": _long_text(rng), "HasOptedOutOfEmail": int(rng.random() < 0.1),
            "DoNotCall": int(rng.random() < 0.05),
            "Languages__c": _maybe(rng, ";".join(sorted(rng.sample(("English", "German", "French", "Japanese"),
                                                                   _randint(rng, 1, 3)))), 0.5),
            "Level__c": _maybe(rng, _pick(rng, ("Primary", "Secondary", "Tertiary")), 0.4),
        }


def products(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:Product2")
    clock = _Clock(rng)
    for n in range(1, volumes.products + 1):
        audit = _audit(rng, clock, volumes.users, owner=False)
        yield {
            "Id": make_id("01t", n), **audit, "Name": f"{_PRODUCTS[n % len(_PRODUCTS)]} {n}",
            "ProductCode": _maybe(rng, f"PRD-{n:05d}", 0.2, empty=True),
            "Description": _maybe(rng, _pick(rng, _LOREM).strip(), 0.4), "IsActive": int(rng.random() > 0.1),
            "Family": _maybe(rng, _pick(rng, ("Hardware", "Software", "Services")), 0.2),
            "QuantityUnitOfMeasure": _pick(rng, ("Each", "Hour")), "StockKeepingUnit": _maybe(rng, f"SKU{n:06d}", 0.5),
            "ExternalId": None, "IsArchived": 0,
        }


def list_price(volumes: Volumes, product: int) -> float:
    """A product's standard list price, derivable without storing it (line items need it)."""
    return float(random.Random(f"{volumes.seed}:price:{product}").randrange(500, 2_000_000)) / 100


def pricebooks(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:Pricebook2")
    clock = _Clock(rng)
    for n, (name, standard) in enumerate((("Standard Price Book", 1), ("Wholesale 2025", 0)), start=1):
        yield {"Id": make_id("01s", n), **_audit(rng, clock, volumes.users, owner=False), "Name": name,
               "IsActive": 1, "IsArchived": 0, "Description": None if standard else "Partner prices",
               "IsStandard": standard}


def pricebook_entry_id(product: int, wholesale: bool = False) -> str:
    return make_id("01u", product * 2 - (0 if wholesale else 1))


def pricebook_entries(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:PricebookEntry")
    clock = _Clock(rng)
    for product in range(1, volumes.products + 1):
        price = list_price(volumes, product)
        name = f"{_PRODUCTS[product % len(_PRODUCTS)]} {product}"
        for wholesale in (False, True):
            entry = {"Id": pricebook_entry_id(product, wholesale), **_audit(rng, clock, volumes.users, owner=False),
                     "Name": name, "Pricebook2Id": make_id("01s", 2 if wholesale else 1),
                     "Product2Id": make_id("01t", product), "UnitPrice": round(price * (0.8 if wholesale else 1), 2),
                     "IsActive": 1, "UseStandardPrice": 0, "ProductCode": f"PRD-{product:05d}", "IsArchived": 0}
            yield from _in_each_currency(volumes, product, wholesale, entry)


#: Price book prices per corporate-currency unit, as a price list team sets them (rounded per currency).
_LIST_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.0, "CAD": 1.36, "CHF": 0.88}


def _in_each_currency(volumes: Volumes, product: int, wholesale: bool,
                      entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A price book entry in each currency of a multi-currency org (Salesforce keeps one per book, product and
    currency); the corporate currency's keeps its id (line items refer to it). Single-currency orgs: as given."""
    if not volumes.currencies:
        yield entry
        return
    held = ORG_CURRENCIES[: volumes.currencies]
    yield {**entry, "CurrencyIsoCode": held[0]}
    for n, code in enumerate(held[1:], start=1):
        counter = 10_000_000 * n + product * 2 - (0 if wholesale else 1)
        yield {**entry, "Id": make_id("01u", counter), "CurrencyIsoCode": code,
               "UnitPrice": round(entry["UnitPrice"] * _LIST_RATES[code], pricing.places(code))}


#: Line discounts as sales reps type them (percent, two decimals); None is no discount.
_DISCOUNTS = (None, None, None, 5.0, 10.0, 12.5, 7.25, 15.75, 33.33, 2.13)
#: Quantities sold in fractions (hours, metres, licences pro rata).
_FRACTIONS = (0.25, 0.5, 0.75, 0.33, 0.1)


def _line_terms(volumes: Volumes, line: int, quantity: float) -> tuple[float, float | None]:
    """A line's quantity (a third of them fractional) and discount, from their own generator, so that adding them
    left every other seeded value as it was."""
    rng = random.Random(f"{volumes.seed}:line-terms:{line}")
    if rng.random() < 1 / 3:
        quantity = round(quantity - 1 + rng.choice(_FRACTIONS), 2)
    return quantity, rng.choice(_DISCOUNTS)


def _in_currency(line: dict[str, Any], currency: dict[str, str]) -> None:
    """A line in its opportunity's currency (multi-currency orgs): its money rounded to that currency's places."""
    if not currency:
        return
    code = currency["CurrencyIsoCode"]
    line.update(currency)
    line["UnitPrice"] = round(line["UnitPrice"], pricing.places(code))
    line["Subtotal"] = pricing.subtotal(line["Quantity"], line["UnitPrice"], code)
    line["TotalPrice"] = pricing.total_price(line["Quantity"], line["UnitPrice"], line["Discount"], code)


#: Quote statuses of quotes that are not the synced one, as years of use leave them.
_OTHER_QUOTE_STATUSES = ("Draft", "Draft", "Presented", "Denied", "Rejected", "Needs Review")


class _QuoteCounters:
    """Running quote and quote line numbers across the opportunities of one seed."""

    def __init__(self) -> None:
        self.quotes = 0
        self.lines = 0


def _quotes(volumes: Volumes, n: int, opportunity: dict[str, Any], lines: list[dict[str, Any]],
            counters: _QuoteCounters) -> tuple[str | None, list[tuple[str, dict[str, Any]]]]:
    """An opportunity's quotes as a real org holds them, from their own generator (the other seeded values stay as
    they were): none for about half; else one to three, at most one syncing (its lines are the opportunity's, so
    its TotalPrice is the Amount), the others drafts, presented, denied or expired versions with other discounts,
    some without lines, some with tax and shipping (GrandTotal = TotalPrice + Tax + ShippingHandling).
    Returns the synced quote's Id (the opportunity's SyncedQuoteId) and the rows."""
    rng = random.Random(f"{volumes.seed}:quotes:{n}")
    if rng.random() < 0.45:
        return None, []
    currency = opportunity.get("CurrencyIsoCode")
    code = {"CurrencyIsoCode": currency} if currency else {}
    count = _randint(rng, 1, 3)
    synced_at = _randint(rng, 0, count - 1) if lines and rng.random() < 0.8 else None
    created = opportunity["CreatedDate"]
    rows: list[tuple[str, dict[str, Any]]] = []
    synced_id = None
    for index in range(count):
        counters.quotes += 1
        quote_id = make_id("0Q0", counters.quotes)
        syncing = index == synced_at
        stamp = created + (index + 1) * DAY_MS // 4 // 1000 * 1000
        audit = {"CreatedDate": stamp, "CreatedById": opportunity["CreatedById"], "LastModifiedDate": stamp,
                 "LastModifiedById": opportunity["LastModifiedById"], "SystemModstamp": stamp, "IsDeleted": 0}
        quote_lines = []
        if syncing:
            sources = lines
        elif lines and rng.random() < 0.75:
            sources = [dict(line, Discount=rng.choice(_DISCOUNTS)) for line in lines[: _randint(rng, 1, len(lines))]]
        else:
            sources = []  # a quote started and never filled in
        for sort, source in enumerate(sources, start=1):
            counters.lines += 1
            discount = source["Discount"]
            quote_lines.append({
                "Id": make_id("0QL", counters.lines), **audit, "LineNumber": f"{sort:05d}", "QuoteId": quote_id,
                "PricebookEntryId": source["PricebookEntryId"], "Product2Id": source["Product2Id"],
                "OpportunityLineItemId": source["Id"] if syncing else None, "Quantity": source["Quantity"],
                "UnitPrice": source["UnitPrice"], "Discount": discount,
                "Subtotal": pricing.subtotal(source["Quantity"], source["UnitPrice"], currency),
                "TotalPrice": pricing.total_price(source["Quantity"], source["UnitPrice"], discount, currency),
                "ListPrice": source["ListPrice"], "ServiceDate": None, "Description": source["Description"],
                "SortOrder": sort, **code,
            })
        for line in quote_lines:
            line.pop("OwnerId", None)
        taxed = rng.random() < 0.4
        tax = round(rng.random() * 900, 0 if currency in pricing.ZERO_DECIMAL_CURRENCIES else 2) if taxed else None
        shipping = float(_randint(rng, 10, 90)) if taxed and rng.random() < 0.5 else None
        subtotal, total, discount, grand = pricing.quote_money(
            [(line["Subtotal"], line["TotalPrice"]) for line in quote_lines], tax, shipping, currency)
        expires = dt.date.fromtimestamp(stamp / 1000) + dt.timedelta(days=_pick(rng, (14, 30, 30, 60)))
        rows.append(("Quote", {
            "Id": quote_id, **audit, "OwnerId": opportunity["OwnerId"],
            "Name": f"{opportunity['Name']} – Q{index + 1}", "QuoteNumber": f"{counters.quotes:08d}",  # noqa: RUF001
            "OpportunityId": opportunity["Id"], "AccountId": opportunity["AccountId"],
            "Pricebook2Id": make_id("01s", 1) if quote_lines else None, "IsSyncing": int(syncing),
            "Status": "Accepted" if syncing and opportunity["IsWon"] else "Presented" if syncing
            else _pick(rng, _OTHER_QUOTE_STATUSES),
            "ExpirationDate": expires.isoformat(), "Description": _maybe(rng, "Valid while stock lasts.", 0.7),
            "Discount": discount, "Subtotal": subtotal, "TotalPrice": total, "Tax": tax,
            "ShippingHandling": shipping, "GrandTotal": grand, "LineItemCount": len(quote_lines), **code,
        }))
        rows.extend(("QuoteLineItem", line) for line in quote_lines)
        if syncing:
            synced_id = quote_id
    return synced_id, rows


def opportunities(volumes: Volumes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Opportunities with their line items and quotes, as (object name, row); some won, some open, some lost."""
    rng = random.Random(f"{volumes.seed}:Opportunity")
    clock = _Clock(rng)
    line_counter = 0
    quote_counters = _QuoteCounters()
    for n in range(1, volumes.opportunities + 1):
        stage = _pick(rng, ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review",
                            "Closed Won", "Closed Won", "Closed Lost"))
        audit = _audit(rng, clock, volumes.users)
        opp_id = make_id("006", n)
        lines = []
        for sort in range(1, _randint(rng, 0, 4) + 1 if volumes.products else 1):
            product = _randint(rng, 1, volumes.products)
            line_counter += 1
            quantity = float(_randint(rng, 1, 20))
            unit = round(list_price(volumes, product) * _pick(rng, (1, 1, 0.9, 0.75)), 2)
            quantity, discount = _line_terms(volumes, line_counter, quantity)
            lines.append({
                "Id": make_id("00k", line_counter), **{k: v for k, v in audit.items() if k != "OwnerId"},
                "OpportunityId": opp_id, "SortOrder": sort, "PricebookEntryId": pricebook_entry_id(product),
                "Product2Id": make_id("01t", product), "ProductCode": f"PRD-{product:05d}",
                "Name": f"Opportunity {n} {_PRODUCTS[product % len(_PRODUCTS)]} {product}", "Quantity": quantity,
                "UnitPrice": unit, "Discount": discount, "Subtotal": pricing.subtotal(quantity, unit),
                "TotalPrice": pricing.total_price(quantity, unit, discount), "ListPrice": list_price(volumes, product),
                "ServiceDate": None, "Description": _maybe(rng, "Line note, \"quoted\"", 0.7),
            })
        close_day = dt.date.fromtimestamp(audit["CreatedDate"] / 1000) + dt.timedelta(days=_randint(rng, 10, 200))
        account = _randint(rng, 1, volumes.accounts) if volumes.accounts else None  # (draw order kept)
        currency = account_currency(volumes, account or 0)  # an opportunity is in its account's currency
        for line in lines:
            _in_currency(line, currency)
        opportunity = {
            "Id": opp_id, **audit, "AccountId": make_id("001", account) if account else None, **currency,
            "Name": f"Opportunity {n} – {_pick(rng, _NAME_WORDS)}", "Description": _long_text(rng),  # noqa: RUF001
            "StageName": stage, "Amount": pricing.amount(line["TotalPrice"] for line in lines) if lines else
            _maybe(rng, float(_randrange(rng, 1000, 90000)), 0.3),
            "Probability": 100.0 if stage == "Closed Won" else 0.0 if stage == "Closed Lost" else 20.0,
            "TotalOpportunityQuantity": round(sum(line["Quantity"] for line in lines), 2) if lines else None,
            "CloseDate": close_day.isoformat(), "Type": _maybe(rng, "New Customer", 0.5), "NextStep": None,
            "LeadSource": _maybe(rng, _pick(rng, ("Web", "Partner Referral")), 0.5),
            "IsClosed": int(stage.startswith("Closed")), "IsWon": int(stage == "Closed Won"),
            "ForecastCategoryName": "Closed" if stage == "Closed Won" else "Omitted" if stage == "Closed Lost"
            else "Pipeline",
            "Pricebook2Id": make_id("01s", 1) if lines else None, "HasOpportunityLineItem": int(bool(lines)),
        }
        synced, quotes = _quotes(volumes, n, opportunity, lines, quote_counters)
        yield "Opportunity", {**opportunity, "SyncedQuoteId": synced}
        for line in lines:
            yield "OpportunityLineItem", line
        yield from quotes


def invoices(volumes: Volumes) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{volumes.seed}:Invoice__c")
    clock = _Clock(rng)
    for n in range(1, volumes.invoices + 1):
        amount = float(_randrange(rng, 100, 5_000_000)) / 100
        paid = _pick(rng, (0.0, amount, round(amount / 2, 2)))
        audit = _audit(rng, clock, volumes.users)
        yield {
            "Id": make_id("a00", n), **audit, "Name": f"INV-{n:06d}", "LastActivityDate": None,
            "Account__c": make_id("001", _randint(rng, 1, volumes.accounts)) if volumes.accounts else None,
            "Opportunity__c": make_id("006", _randint(rng, 1, volumes.opportunities))
            if volumes.opportunities and rng.random() < 0.7 else None,
            "ExternalNumber__c": f"EXT-{n:07d}", "Status__c": "Paid" if paid == amount else _pick(rng, ("Sent",
                                                                                                     "Overdue")),
            "Tags__c": _maybe(rng, "Priority;Recurring", 0.6), "Channel__c": _pick(rng, ("Email", "Portal", "Fax")),
            "Amount__c": amount, "AmountPaid__c": paid, "DiscountPercent__c": _maybe(rng, 12.5, 0.7),
            "ExchangeRate__c": _maybe(rng, 1.083215, 0.5), "LineCount__c": _randint(rng, 1, 12),
            "LedgerSequence__c": 9_000_000_000_000 + n, "Paid__c": int(paid == amount),
            "InvoiceDate__c": dt.date.fromtimestamp(audit["CreatedDate"] / 1000).isoformat(),
            "IssuedAt__c": audit["CreatedDate"], "PreferredCallTime__c": _maybe(rng, "09:30:00.000Z", 0.5),
            "BillingEmail__c": _maybe(rng, f"ap{n}@example.com", 0.2), "BillingPhone__c": _phone(rng),
            "PortalUrl__c": _maybe(rng, f"https://portal.example.com/inv/{n}", 0.5),
            "BankAccount__c": _maybe(rng, f"DE89 3704 0044 0532 {n:04d} 00", 0.5),
            "Memo__c": _maybe(rng, "Thanks for your business!\nNet 30.", 0.5), "Notes__c": _long_text(rng),
            "ShipTo__Street__s": _maybe(rng, _pick(rng, _STREETS), 0.3), "ShipTo__City__s": "Toronto",
            "ShipTo__PostalCode__s": "M5H 2N2", "ShipTo__StateCode__s": "ON", "ShipTo__CountryCode__s": "CA",
            "ShipTo__Latitude__s": None, "ShipTo__Longitude__s": None, "ShipTo__GeocodeAccuracy__s": None,
            "Warehouse__Latitude__s": _maybe(rng, 43.6532, 0.4), "Warehouse__Longitude__s": _maybe(rng, -79.3832, 0.4),
            "Attachment__c": None, "LegacyValue__c": _maybe(rng, str(n), 0.5),
            "Payload__c": _maybe(rng, '{"source": "erp", "lines": [1, 2]}', 0.5),
            "Settings__c": _maybe(rng, '{"reminders": true}', 0.5),
        }


def all_rows(volumes: Volumes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every generated row, parents before children, as (object name, row)."""
    yield from (("User", row) for row in users(volumes))
    yield from (("Account", row) for row in accounts(volumes))
    yield from (("Contact", row) for row in contacts(volumes))
    yield from (("Product2", row) for row in products(volumes))
    yield from (("Pricebook2", row) for row in pricebooks(volumes))
    yield from (("PricebookEntry", row) for row in pricebook_entries(volumes))
    yield from opportunities(volumes)
    yield from (("Invoice__c", row) for row in invoices(volumes))
