"""The keys records are matched on: normalised names, phones, emails and domains, and the values that never match.

The invariant: two values are "equal" for matching only when a person would say they name the same thing, and a
placeholder (a phone like 000-000-0000, a shared mailbox like ap@, "n/a") is never equal to anything, so it can
neither find nor corroborate a candidate.

- company names (`normalise_company`): case and accents folded, transliterations equal (ö = oe = o, ß = ss),
  dotted and apostrophised forms joined (`S.A.` = `SA`, `J.B.` = `JB`, `McDonald's` = `McDonalds`, `A/S` = `AS`),
  `&` / `+` = "and", a leading "The" dropped, common abbreviations expanded (Intl, Mfg, Svcs, ...), and trailing
  legal forms of the major jurisdictions dropped (never the whole name);
- phones: digits only, an extension (`x204`, `ext. 204`, `#204`) ignored, compared on the last 10 digits;
- emails: trimmed and case-folded; a website or an email gives its domain (`www.` dropped) for corroboration;
- external ids: one with the form of a Salesforce Id of the object mapped to the record type is this pipeline's
  (`owned_external_id`); matching and reconciliation both ask this one function.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

LEGAL_FORMS = frozenset({
    # US / UK / Commonwealth
    "inc", "incorporated", "llc", "lc", "ltd", "limited", "corp", "corporation", "co", "company", "plc", "lp",
    "llp", "pllc", "pc", "pty", "pte", "cic",
    # German-speaking, Dutch, Belgian, Nordic
    "gmbh", "ag", "kg", "kgaa", "ohg", "ug", "ev", "se", "bv", "nv", "vof", "cv", "as", "asa", "aps", "ab",
    "oy", "oyj", "hf", "ehf",
    # Romance languages, Latin America
    "sa", "sas", "sarl", "sasu", "eurl", "snc", "spa", "srl", "sapa", "sl", "slu", "sau", "lda", "ltda",
    "sacv", "sadecv", "scs",
    # Central/Eastern Europe, Asia
    "sro", "spzoo", "zrt", "kft", "doo", "ad", "ood", "kk", "gk", "yk", "bhd", "sdn", "tbk", "pt",
})
ABBREVIATIONS = {
    "intl": "international", "int'l": "international", "mfg": "manufacturing", "mfrs": "manufacturers",
    "svcs": "services", "svc": "service", "srvcs": "services", "bros": "brothers", "assoc": "associates",
    "assn": "association", "dept": "department", "grp": "group", "hldgs": "holdings", "natl": "national",
    "tech": "technology", "techs": "technologies", "sys": "systems", "univ": "university", "mgmt": "management",
    "dist": "distribution", "distr": "distribution", "eng": "engineering", "ind": "industries", "inds": "industries",
}
# Local parts of addresses many people or companies share: an email like these never identifies one record.
SHARED_MAILBOXES = frozenset({
    "noreply", "no-reply", "donotreply", "do-not-reply", "info", "ap", "ar", "accounts", "accountspayable",
    "accounts.payable", "payables", "billing", "invoices", "invoice", "finance", "sales", "support", "admin",
    "office", "contact", "hello", "mail", "team", "orders", "purchasing", "procurement", "help", "service",
})
# Domains of free mail services: an address there says nothing about the company.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com", "icloud.com",
    "me.com", "gmx.de", "gmx.net", "web.de", "mail.com", "proton.me", "protonmail.com", "msn.com", "yahoo.co.uk",
})
PLACEHOLDER_TEXTS = frozenset({
    "n/a", "na", "n.a.", "none", "null", "unknown", "-", "--", ".", "tbd", "tba", "test", "x", "xx", "xxx", "?",
    "no phone", "no email", "not available", "noemail@noemail.com",
})
_TRANSLITERATIONS = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                                   "þ": "th", "\u0131": "i"})  # \u0131: dotless i
_DIGRAPHS = re.compile(r"(?<=[a-z])(ae|oe|ue)")
_JOINERS = re.compile("['\u2019`\u00b4.\u00b7/]")  # apostrophes, accents, dots, slashes
_NON_ALNUM = re.compile(r"[\W_]+")
_EXTENSION = re.compile(r"\s*(?:(?:ext|extn|extension|x|#)\.?\s*:?\s*\d{1,6})\s*$", re.IGNORECASE)


def fold(value: str) -> str:
    """Case and accents folded, transliterations made equal: "Müller" == "MUELLER" == "muller"."""
    decomposed = unicodedata.normalize("NFKD", value.casefold().translate(_TRANSLITERATIONS))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _DIGRAPHS.sub(lambda m: m.group(1)[0], plain)


def company_words(value: str) -> list[str]:
    """The words of a company name after joining dotted forms and expanding abbreviations (no legal-form drop)."""
    text = fold(value).replace("&", " and ").replace("+", " and ")
    text = _JOINERS.sub("", text)
    words = [ABBREVIATIONS.get(word, word) for word in _NON_ALNUM.sub(" ", text).split()]
    words = ["and" if word in ("und", "et") else word for word in words]
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return words


def normalise_company(value: str) -> str:
    """See the module docstring: "The Société Générale S.A." == "Societe Generale SA" == "societe generale"."""
    words = company_words(value)
    while len(words) > 1 and (words[-1] in LEGAL_FORMS or words[-1] == "and"):
        words.pop()
    return " ".join(words)


def normalise_email(value: str) -> str:
    return value.strip().casefold()


def normalise_phone(value: str) -> str:
    """Digits only, extension ignored, compared on the last 10 (so "+1 415-555-0100 x12" == "(415) 555 0100")."""
    digits = re.sub(r"\D", "", _EXTENSION.sub("", value))
    return digits[-10:] if len(digits) >= 10 else digits


def normalise_text(value: str) -> str:
    return value.strip().casefold()


def domain(value: str) -> str:
    """The domain of a website or an email address ("" when there is none, or it is a free mail service)."""
    text = value.strip().casefold()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    else:
        text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/", 1)[0].split("?", 1)[0]
    text = text.split(":", 1)[0].strip(".")
    text = text.removeprefix("www.")
    if "." not in text or text in FREE_MAIL_DOMAINS:
        return ""
    return text


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def normalise_date(value: str) -> str:
    """A date as YYYY-MM-DD, whether written so (payloads) or as SuiteQL shows it (M/D/YYYY)."""
    text = value.strip()
    if m := _ISO_DATE.match(text):
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    if m := _US_DATE.match(text):
        return f"{m.group(3)}-{int(m.group(1)):02d}-{int(m.group(2)):02d}"
    return text.casefold()


# Key prefixes of the Salesforce objects the shipped mapping writes to each record type: an external id of this
# form was written by this pipeline (or is a Salesforce record it will write), never a record to adopt.
SALESFORCE_KEY_PREFIXES = {"customer": "001", "contact": "003", "nonInventorySaleItem": "01t",
                           "salesOrder": "006"}
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def owned_external_id(record_type: str, external_id: str) -> bool:
    """True when `external_id` has the form of a Salesforce Id of the object mapped to `record_type`."""
    prefix = SALESFORCE_KEY_PREFIXES.get(record_type)
    return prefix is not None and bool(_SALESFORCE_ID.match(external_id)) and external_id.startswith(prefix)


PHONE_FIELDS = frozenset({"phone", "altPhone", "mobilePhone", "homePhone", "officePhone", "fax"})
EMAIL_FIELDS = frozenset({"email", "altEmail"})


def normaliser(field_name: str) -> Callable[[str], str]:
    if field_name == "companyName":
        return normalise_company
    if field_name in EMAIL_FIELDS:
        return normalise_email
    if field_name in PHONE_FIELDS:
        return normalise_phone
    if field_name.endswith("Date"):
        return normalise_date
    return normalise_text


def _sequential(digits: str) -> bool:
    return digits in "01234567890123456789" or digits in "98765432109876543210"


class Placeholders:
    """Values that never match: built-in patterns plus the `match_placeholders` setting (compared normalised)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        extra = list(extra)
        self.texts = PLACEHOLDER_TEXTS | {normalise_text(value) for value in extra}
        self.phones = {normalise_phone(value) for value in extra if len(re.sub(r"\D", "", value)) >= 7}

    def phone(self, digits: str) -> bool:
        """`digits` as `normalise_phone` gives them."""
        if len(digits) < 7 or digits in self.phones or len(set(digits)) <= 2:
            return True
        if _sequential(digits) or _sequential(digits[-7:]):
            return True
        local = digits[-7:]
        return local.startswith("55501")  # 555-0100 to 555-0199: reserved for fiction

    def email(self, address: str) -> bool:
        local = address.split("@", 1)[0]
        return "@" not in address or local in SHARED_MAILBOXES or address in self.texts

    def is_placeholder(self, field_name: str, key: str, raw: str) -> bool:
        """`key` is the normalised value of `raw`."""
        if normalise_text(raw) in self.texts or not key:
            return True
        if field_name in PHONE_FIELDS:
            return self.phone(key)
        if field_name in EMAIL_FIELDS:
            return self.email(key)
        return False
