"""The org's data model: which sObjects exist and which fields they have.

One declaration drives everything else, so describe, SQLite storage, SOQL checks and the generator can never
disagree: a field declared here is described with Salesforce's 57 describe keys, stored in a column (unless it
is a compound or formula field), and checked by the SOQL compiler (filterable, sortable, type of literal).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# Types whose values are text in SQLite and compare as text in SOQL.
TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "multipicklist", "combobox", "reference", "email", "phone", "url",
     "encryptedstring", "anyType"}
)
NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
COMPOUND_TYPES = frozenset({"address", "location"})
# Types Salesforce never lets a WHERE clause touch (describe still calls compound fields filterable: only
# DISTANCE() may filter them), and the ones ORDER BY refuses on top of those.
UNFILTERABLE_TYPES = frozenset({"base64", "json", "complexvalue", "encryptedstring"})
UNSORTABLE_TYPES = UNFILTERABLE_TYPES | COMPOUND_TYPES | {"multipicklist", "anyType"}
LONG_TEXT_LENGTH = 255


@dataclass(frozen=True)
class Field:
    """One sObject field, declared with only what differs from its type's defaults."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    compound: str | None = None  # compoundFieldName of a component (BillingCity → BillingAddress)
    formula: str | None = None  # calculatedFormula; the field is computed, never stored
    formula_sql: str | None = None  # the same formula in SQL over `{t}` (the row's table alias)
    precision: int = 0
    scale: int = 0
    system: bool = False  # set by the platform (Id, audit fields, IsDeleted): not createable/updateable
    name_field: bool = False
    external_id: bool = False
    unique: bool = False
    auto_number: bool = False
    cascade_delete: bool = False
    filterable: bool | None = None  # None: derived from the type and length

    @property
    def custom(self) -> bool:
        return self.name.endswith(("__c", "__s"))

    @property
    def calculated(self) -> bool:
        return self.formula is not None

    @property
    def is_compound(self) -> bool:
        return self.type in COMPOUND_TYPES

    @property
    def stored(self) -> bool:
        """Whether the field has its own SQLite column."""
        return not self.is_compound and not self.calculated

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > LONG_TEXT_LENGTH

    @property
    def is_filterable(self) -> bool:
        if self.filterable is not None:
            return self.filterable
        return self.type not in UNFILTERABLE_TYPES and not self.long_text

    @property
    def is_sortable(self) -> bool:
        return self.type not in UNSORTABLE_TYPES and not self.long_text


@dataclass(frozen=True)
class SObject:
    """One sObject type: name, key prefix and fields in describe order."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: tuple[Field, ...]
    has_is_deleted: bool = True

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @cached_property
    def by_lower(self) -> dict[str, Field]:
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def relationships(self) -> dict[str, Field]:
        """Reference fields by lower-cased relationship name (`Account`, `Owner`, `Account__r`)."""
        return {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    @cached_property
    def stored_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.stored)

    def get(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    def components(self, compound: Field) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.compound == compound.name)


#: The currencies a multi-currency org of the stand-in may hold (Volumes.currencies takes the first N; USD is the
#: corporate currency). Salesforce adds `CurrencyIsoCode` to records only once multi-currency is enabled.
ORG_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "CHF")
CURRENCY_FIELD = "CurrencyIsoCode"
#: A OneWorld company's own Account field naming the NetSuite subsidiary that bills it (an unrestricted picklist:
#: the API accepts other values, so some are typed differently); only in orgs with the `subsidiaries` volume.
SUBSIDIARY_FIELD = "Subsidiary__c"


def _currency(label: str) -> Field:
    """The record's currency in a multi-currency org (metadata.py leaves it out of single-currency orgs)."""
    return Field(CURRENCY_FIELD, "picklist", label, 3, picklist=ORG_CURRENCIES)


def _audit(owner: bool = True) -> list[Field]:
    fields = [
        Field("CreatedDate", "datetime", "Created Date", nillable=False, system=True),
        Field("CreatedById", "reference", "Created By ID", nillable=False, reference_to=("User",),
              relationship_name="CreatedBy", system=True),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, system=True),
        Field("LastModifiedById", "reference", "Last Modified By ID", nillable=False, reference_to=("User",),
              relationship_name="LastModifiedBy", system=True),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, system=True),
    ]
    if owner:
        fields.insert(0, Field("OwnerId", "reference", "Owner ID", nillable=False, reference_to=("User",),
                               relationship_name="Owner"))
    return fields


def _cross_object_formulas() -> list[Field]:
    """A formula over a related record: when the owner is renamed its value changes, the Account's SystemModstamp
    does not (as in Salesforce), so only a reconciliation can notice."""
    return [Field("OwnerName__c", "string", "Account Owner Name", 121, formula="Owner.Name",
                  formula_sql='(SELECT u."Name" FROM "User" AS u WHERE u."Id" = {t}."OwnerId")')]


def _address(prefix: str, label: str) -> list[Field]:
    """A standard address: components then the compound field, as Account/Contact describe them."""
    compound = f"{prefix}Address"
    return [
        Field(f"{prefix}Street", "textarea", f"{label} Street", 255, compound=compound),
        Field(f"{prefix}City", "string", f"{label} City", 40, compound=compound),
        Field(f"{prefix}State", "string", f"{label} State/Province", 80, compound=compound),
        Field(f"{prefix}PostalCode", "string", f"{label} Zip/Postal Code", 20, compound=compound),
        Field(f"{prefix}Country", "string", f"{label} Country", 80, compound=compound),
        Field(f"{prefix}Latitude", "double", f"{label} Latitude", precision=18, scale=15, compound=compound),
        Field(f"{prefix}Longitude", "double", f"{label} Longitude", precision=18, scale=15, compound=compound),
        Field(f"{prefix}GeocodeAccuracy", "picklist", f"{label} Geocode Accuracy", 40, compound=compound,
              picklist=("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "City", "County",
                        "State", "Unknown")),
        Field(compound, "address", f"{label} Address"),
    ]


#: The sync status a Salesforce user sees on a record the NetSuite → Salesforce pipeline writes back.
SYNC_STATUSES = ("Synced", "Waiting for parent", "Error", "Conflict")
#: A NetSuite sales order's status, as NetSuite shows it, written back onto the Opportunity.
ORDER_STATUSES = ("Pending Approval", "Pending Fulfillment", "Cancelled", "Partially Fulfilled",
                  "Pending Billing/Partially Fulfilled", "Pending Billing", "Billed", "Closed")
#: How much of a NetSuite sales order is shipped (tap-netsuite-custom's `fulfillmentState`), on the Opportunity.
FULFILLMENT_STATES = ("Not Fulfilled", "Partially Fulfilled", "Fulfilled")


def _netsuite_sync_fields() -> list[Field]:
    """The custom fields an admin deploys for the NetSuite write-back (README: "Setting up the Salesforce side"):
    the NetSuite internal id (an external id, unique), a link, the sync status, the last error, the last sync."""
    return [
        Field("NetSuite_Id__c", "string", "NetSuite Id", 40, external_id=True, unique=True),
        Field("NetSuite_Link__c", "url", "NetSuite Link", 255),
        Field("NetSuite_Sync_Status__c", "picklist", "NetSuite Sync Status", 255, picklist=SYNC_STATUSES),
        Field("NetSuite_Last_Error__c", "textarea", "NetSuite Last Error", 32768),
        Field("NetSuite_Last_Sync__c", "datetime", "NetSuite Last Sync"),
    ]


ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                 "Installation Partner", "Technology Partner", "Other")
INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
              "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Finance",
              "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Retail",
              "Technology", "Telecommunications", "Transportation", "Utilities", "Other")
STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")

_ACCOUNT = SObject(
    "Account", "001", "Account", "Accounts",
    (
        Field("Id", "id", "Account ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("MasterRecordId", "reference", "Master Record ID", reference_to=("Account",),
              relationship_name="MasterRecord", system=True),
        Field("Name", "string", "Account Name", 255, nillable=False, name_field=True),
        Field("Type", "picklist", "Account Type", 255, picklist=ACCOUNT_TYPES),
        Field("ParentId", "reference", "Parent Account ID", reference_to=("Account",), relationship_name="Parent"),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
        Field("Phone", "phone", "Account Phone", 40),
        Field("Fax", "phone", "Account Fax", 40),
        Field("AccountNumber", "string", "Account Number", 40),
        Field("Website", "url", "Website", 255),
        Field("Industry", "picklist", "Industry", 255, picklist=INDUSTRIES),
        Field("AnnualRevenue", "currency", "Annual Revenue", precision=18),
        Field("NumberOfEmployees", "int", "Employees"),
        Field("Description", "textarea", "Account Description", 32000),
        Field("Rating", "picklist", "Account Rating", 255, picklist=("Hot", "Warm", "Cold")),
        _currency("Account Currency"),
        *_audit(),
        Field("LastActivityDate", "date", "Last Activity", system=True),
        Field("CustomerPriority__c", "picklist", "Customer Priority", 255, picklist=("High", "Low", "Medium")),
        Field("NumberofLocations__c", "double", "Number of Locations", precision=3),
        Field("SLAExpirationDate__c", "date", "SLA Expiration Date"),
        Field("Active__c", "picklist", "Active", 255, picklist=("No", "Yes")),
        Field(SUBSIDIARY_FIELD, "picklist", "Subsidiary", 255, picklist=("Global", "Japan KK", "UK Ltd")),
        *_cross_object_formulas(),
        *_netsuite_sync_fields(),
        # The NetSuite customer's receivables, written back (open invoices, and those past their due date).
        Field("NetSuite_Balance__c", "currency", "NetSuite Balance", precision=18, scale=2),
        Field("NetSuite_Overdue_Balance__c", "currency", "NetSuite Overdue Balance", precision=18, scale=2),
    ),
)

_CONTACT = SObject(
    "Contact", "003", "Contact", "Contacts",
    (
        Field("Id", "id", "Contact ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("MasterRecordId", "reference", "Master Record ID", reference_to=("Contact",),
              relationship_name="MasterRecord", system=True),
        Field("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
        Field("LastName", "string", "Last Name", 80, nillable=False),
        Field("FirstName", "string", "First Name", 40),
        Field("Salutation", "picklist", "Salutation", 40, picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")),
        Field("Name", "string", "Full Name", 121, nillable=False, name_field=True, system=True),
        *_address("Mailing", "Mailing"),
        Field("Phone", "phone", "Business Phone", 40),
        Field("Fax", "phone", "Business Fax", 40),
        Field("MobilePhone", "phone", "Mobile Phone", 40),
        Field("Email", "email", "Email", 80),
        Field("Title", "string", "Title", 128),
        Field("Department", "string", "Department", 80),
        Field("Birthdate", "date", "Birthdate"),
        Field("Description", "textarea", "Contact Description", 32000),
        Field("HasOptedOutOfEmail", "boolean", "Email Opt Out", nillable=False),
        Field("DoNotCall", "boolean", "Do Not Call", nillable=False),
        *_audit(),
        Field("Languages__c", "multipicklist", "Languages", 4099,
              picklist=("English", "German", "French", "Spanish", "Japanese", "Portuguese")),
        Field("Level__c", "picklist", "Level", 255, picklist=("Primary", "Secondary", "Tertiary")),
        *_netsuite_sync_fields(),
    ),
)

_PRODUCT = SObject(
    "Product2", "01t", "Product", "Products",
    (
        Field("Id", "id", "Product ID", 18, nillable=False, system=True),
        Field("Name", "string", "Product Name", 255, nillable=False, name_field=True),
        Field("ProductCode", "string", "Product Code", 255),
        Field("Description", "textarea", "Product Description", 4000, filterable=True),
        Field("IsActive", "boolean", "Active", nillable=False),
        Field("Family", "picklist", "Product Family", 255, picklist=("Hardware", "Software", "Services", "None")),
        Field("QuantityUnitOfMeasure", "picklist", "Quantity Unit Of Measure", 255, picklist=("Each", "Hour", "Kg")),
        Field("StockKeepingUnit", "string", "Product SKU", 180),
        Field("ExternalId", "string", "External ID", 255),
        Field("IsArchived", "boolean", "Archived", nillable=False),
        *_audit(owner=False),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        *_netsuite_sync_fields(),
    ),
)

_PRICEBOOK = SObject(
    "Pricebook2", "01s", "Price Book", "Price Books",
    (
        Field("Id", "id", "Price Book ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("Name", "string", "Price Book Name", 255, nillable=False, name_field=True),
        Field("IsActive", "boolean", "Active", nillable=False),
        Field("IsArchived", "boolean", "Is Archived", nillable=False, system=True),
        Field("Description", "string", "Description", 255),
        Field("IsStandard", "boolean", "Is Standard Price Book", nillable=False, system=True),
        *_audit(owner=False),
    ),
)

_PRICEBOOK_ENTRY = SObject(
    "PricebookEntry", "01u", "Price Book Entry", "Price Book Entries",
    (
        Field("Id", "id", "Price Book Entry ID", 18, nillable=False, system=True),
        Field("Name", "string", "Product Name", 255, system=True, name_field=True),
        Field("Pricebook2Id", "reference", "Price Book ID", nillable=False, reference_to=("Pricebook2",),
              relationship_name="Pricebook2"),
        Field("Product2Id", "reference", "Product ID", nillable=False, reference_to=("Product2",),
              relationship_name="Product2"),
        Field("UnitPrice", "currency", "List Price", nillable=False, precision=18, scale=2),
        Field("IsActive", "boolean", "Active", nillable=False),
        Field("UseStandardPrice", "boolean", "Use Standard Price", nillable=False),
        _currency("Price Book Entry Currency"),  # multi-currency orgs: one entry per book, product and currency
        *_audit(owner=False),
        Field("ProductCode", "string", "Product Code", 255, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("IsArchived", "boolean", "Archived", nillable=False, system=True),
    ),
)

_OPPORTUNITY = SObject(
    "Opportunity", "006", "Opportunity", "Opportunities",
    (
        Field("Id", "id", "Opportunity ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
        Field("Name", "string", "Name", 120, nillable=False, name_field=True),
        Field("Description", "textarea", "Description", 32000),
        Field("StageName", "picklist", "Stage", 255, nillable=False, picklist=STAGES),
        Field("Amount", "currency", "Amount", precision=18, scale=2),
        Field("Probability", "percent", "Probability (%)", precision=3),
        Field("ExpectedRevenue", "currency", "Expected Amount", precision=18, scale=2,
              formula="Amount * Probability / 100", formula_sql="({t}.\"Amount\" * {t}.\"Probability\" / 100.0)"),
        Field("TotalOpportunityQuantity", "double", "Quantity", precision=18, scale=2),
        Field("CloseDate", "date", "Close Date", nillable=False),
        Field("Type", "picklist", "Opportunity Type", 255,
              picklist=("Existing Customer - Upgrade", "Existing Customer - Replacement",
                        "Existing Customer - Downgrade", "New Customer")),
        Field("NextStep", "string", "Next Step", 255),
        Field("LeadSource", "picklist", "Lead Source", 255,
              picklist=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
        Field("IsClosed", "boolean", "Closed", nillable=False, system=True),
        Field("IsWon", "boolean", "Won", nillable=False, system=True),
        Field("ForecastCategoryName", "picklist", "Forecast Category", 255,
              picklist=("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
        Field("Pricebook2Id", "reference", "Price Book ID", reference_to=("Pricebook2",),
              relationship_name="Pricebook2"),
        _currency("Opportunity Currency"),
        *_audit(),
        Field("HasOpportunityLineItem", "boolean", "Has Line Item", nillable=False, system=True),
        *_netsuite_sync_fields(),
        Field("SyncedQuoteId", "reference", "Quote ID", reference_to=("Quote",), relationship_name="SyncedQuote"),
        # The sales order's life, written back (meltano.yml mapping netsuite-to-salesforce).
        Field("NetSuite_Order_Number__c", "string", "NetSuite Order Number", 40),
        Field("NetSuite_Order_Status__c", "picklist", "NetSuite Order Status", 255, picklist=ORDER_STATUSES),
        Field("NetSuite_Order_Total__c", "currency", "NetSuite Order Total", precision=18, scale=2),
        Field("NetSuite_Fulfillment_Status__c", "picklist", "NetSuite Fulfillment Status", 255,
              picklist=FULFILLMENT_STATES),
        # The order's invoices summed (amounts in the order's currency).
        Field("NetSuite_Amount_Invoiced__c", "currency", "NetSuite Amount Invoiced", precision=18, scale=2),
        Field("NetSuite_Amount_Paid__c", "currency", "NetSuite Amount Paid", precision=18, scale=2),
        Field("NetSuite_Amount_Remaining__c", "currency", "NetSuite Amount Remaining", precision=18, scale=2),
    ),
)

#: Quote statuses as a standard org ships them (Object Reference, Quote.Status).
QUOTE_STATUSES = ("Draft", "Needs Review", "In Review", "Approved", "Rejected", "Presented", "Accepted", "Denied")

# Quote and QuoteLineItem (Object Reference): a quote's money rolls up from its lines like an opportunity's.
# Subtotal = sum of line Subtotal (Quantity x UnitPrice); TotalPrice = sum of line TotalPrice (after line discounts);
# GrandTotal = TotalPrice + Tax + ShippingHandling; Discount = the lines' weighted discount (1 - TotalPrice /
# Subtotal, as a percent). IsSyncing is true on the one quote its opportunity's SyncedQuoteId names.
_QUOTE = SObject(
    "Quote", "0Q0", "Quote", "Quotes",
    (
        Field("Id", "id", "Quote ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("Name", "string", "Quote Name", 255, nillable=False, name_field=True),
        Field("QuoteNumber", "string", "Quote Number", 30, system=True, auto_number=True),
        Field("OpportunityId", "reference", "Opportunity ID", nillable=False, reference_to=("Opportunity",),
              relationship_name="Opportunity", cascade_delete=True),
        Field("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account",
              system=True),
        Field("Pricebook2Id", "reference", "Price Book ID", reference_to=("Pricebook2",),
              relationship_name="Pricebook2"),
        Field("IsSyncing", "boolean", "Syncing", nillable=False, system=True),
        Field("Status", "picklist", "Status", 40, picklist=QUOTE_STATUSES),
        Field("ExpirationDate", "date", "Expiration Date"),
        Field("Description", "textarea", "Description", 32000),
        Field("Discount", "percent", "Discount", precision=3, scale=2, system=True),
        Field("Subtotal", "currency", "Subtotal", precision=18, scale=2, system=True),
        Field("TotalPrice", "currency", "Total Price", precision=18, scale=2, system=True),
        Field("Tax", "currency", "Tax", precision=18, scale=2),
        Field("ShippingHandling", "currency", "Shipping and Handling", precision=18, scale=2),
        Field("GrandTotal", "currency", "Grand Total", precision=18, scale=2, system=True),
        Field("LineItemCount", "int", "Line Items", system=True),
        _currency("Quote Currency"),
        *_audit(),
    ),
)

_QUOTE_LINE_ITEM = SObject(
    "QuoteLineItem", "0QL", "Quote Line Item", "Quote Line Items",
    (
        Field("Id", "id", "Line Item ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("LineNumber", "string", "Line Item Number", 255, system=True, auto_number=True),
        Field("QuoteId", "reference", "Quote ID", nillable=False, reference_to=("Quote",), relationship_name="Quote",
              cascade_delete=True),
        Field("PricebookEntryId", "reference", "Price Book Entry ID", reference_to=("PricebookEntry",),
              relationship_name="PricebookEntry"),
        Field("Product2Id", "reference", "Product ID", reference_to=("Product2",), relationship_name="Product2"),
        Field("OpportunityLineItemId", "string", "Opportunity Line Item ID", 18),
        Field("Quantity", "double", "Quantity", nillable=False, precision=12, scale=2),
        Field("UnitPrice", "currency", "Sales Price", precision=18, scale=2),
        Field("Discount", "percent", "Discount", precision=5, scale=2),
        Field("Subtotal", "currency", "Subtotal", precision=18, scale=2, system=True),
        Field("TotalPrice", "currency", "Total Price", precision=18, scale=2, system=True),
        Field("ListPrice", "currency", "List Price", precision=18, scale=2, system=True),
        Field("ServiceDate", "date", "Date"),
        Field("Description", "string", "Line Item Description", 255),
        Field("SortOrder", "int", "Sort Order"),
        _currency("Currency ISO Code"),
        *_audit(owner=False),
    ),
)

_LINE_ITEM = SObject(
    "OpportunityLineItem", "00k", "Opportunity Product", "Opportunity Product",
    (
        Field("Id", "id", "Line Item ID", 18, nillable=False, system=True),
        Field("OpportunityId", "reference", "Opportunity ID", nillable=False, reference_to=("Opportunity",),
              relationship_name="Opportunity", cascade_delete=True),
        Field("SortOrder", "int", "Sort Order"),
        Field("PricebookEntryId", "reference", "Price Book Entry ID", reference_to=("PricebookEntry",),
              relationship_name="PricebookEntry"),
        Field("Product2Id", "reference", "Product ID", reference_to=("Product2",), relationship_name="Product2"),
        Field("ProductCode", "string", "Product Code", 255, system=True),
        Field("Name", "string", "Opportunity Product Name", 376, system=True, name_field=True),
        Field("Quantity", "double", "Quantity", nillable=False, precision=12, scale=2),
        Field("TotalPrice", "currency", "Total Price", precision=16, scale=2),
        Field("UnitPrice", "currency", "Sales Price", precision=18, scale=2),
        Field("Discount", "percent", "Discount", precision=5, scale=2),
        Field("Subtotal", "currency", "Subtotal", precision=18, scale=2, system=True),
        Field("ListPrice", "currency", "List Price", precision=18, scale=2, system=True),
        Field("ServiceDate", "date", "Date"),
        Field("Description", "string", "Line Description", 255),
        _currency("Currency ISO Code"),
        *_audit(owner=False),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
    ),
)

_USER = SObject(
    "User", "005", "User", "Users",
    (
        Field("Id", "id", "User ID", 18, nillable=False, system=True),
        Field("Username", "string", "Username", 80, nillable=False, unique=True),
        Field("LastName", "string", "Last Name", 80, nillable=False),
        Field("FirstName", "string", "First Name", 40),
        Field("Name", "string", "Full Name", 121, nillable=False, name_field=True, system=True),
        Field("CompanyName", "string", "Company Name", 80),
        Field("Email", "email", "Email", 128, nillable=False),
        Field("Alias", "string", "Alias", 8, nillable=False),
        Field("IsActive", "boolean", "Active", nillable=False),
        Field("TimeZoneSidKey", "picklist", "Time Zone", 40, nillable=False,
              picklist=("America/Los_Angeles", "America/New_York", "Europe/Berlin", "Europe/London", "Asia/Tokyo")),
        Field("LanguageLocaleKey", "picklist", "Language", 40, nillable=False,
              picklist=("en_US", "de", "fr", "ja", "es")),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, system=True),
        Field("CreatedById", "reference", "Created By ID", nillable=False, reference_to=("User",),
              relationship_name="CreatedBy", system=True),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, system=True),
        Field("LastModifiedById", "reference", "Last Modified By ID", nillable=False, reference_to=("User",),
              relationship_name="LastModifiedBy", system=True),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, system=True),
    ),
    has_is_deleted=False,
)

# The custom object carries every remaining describe type, so the tap's type mapping is exercised end to end.
_INVOICE = SObject(
    "Invoice__c", "a00", "Invoice", "Invoices",
    (
        Field("Id", "id", "Record ID", 18, nillable=False, system=True),
        Field("OwnerId", "reference", "Owner ID", nillable=False, reference_to=("User",), relationship_name="Owner"),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("Name", "string", "Invoice Number", 80, nillable=False, name_field=True, auto_number=True,
              system=True),
        *_audit(owner=False),
        Field("LastActivityDate", "date", "Last Activity Date", system=True),
        Field("Account__c", "reference", "Account", reference_to=("Account",), relationship_name="Account__r"),
        Field("Opportunity__c", "reference", "Opportunity", reference_to=("Opportunity",),
              relationship_name="Opportunity__r"),
        Field("ExternalNumber__c", "string", "External Number", 40, external_id=True, unique=True),
        Field("Status__c", "picklist", "Status", 255, picklist=("Draft", "Sent", "Paid", "Overdue", "Void")),
        Field("Tags__c", "multipicklist", "Tags", 4099, picklist=("Priority", "Disputed", "Recurring", "Manual")),
        Field("Channel__c", "combobox", "Channel", 255, picklist=("Email", "Portal", "Post")),
        Field("Amount__c", "currency", "Amount", precision=16, scale=2),
        Field("AmountPaid__c", "currency", "Amount Paid", precision=16, scale=2),
        Field("Balance__c", "currency", "Balance", precision=18, scale=2,
              formula="Amount__c - AmountPaid__c",
              formula_sql="(COALESCE({t}.\"Amount__c\", 0) - COALESCE({t}.\"AmountPaid__c\", 0))"),
        Field("DiscountPercent__c", "percent", "Discount", precision=5, scale=2),
        Field("ExchangeRate__c", "double", "Exchange Rate", precision=12, scale=6),
        Field("LineCount__c", "int", "Line Count"),
        Field("LedgerSequence__c", "long", "Ledger Sequence"),
        Field("Paid__c", "boolean", "Paid", nillable=False),
        Field("InvoiceDate__c", "date", "Invoice Date"),
        Field("IssuedAt__c", "datetime", "Issued At"),
        Field("PreferredCallTime__c", "time", "Preferred Call Time"),
        Field("BillingEmail__c", "email", "Billing Email", 80),
        Field("BillingPhone__c", "phone", "Billing Phone", 40),
        Field("PortalUrl__c", "url", "Portal URL", 255),
        Field("BankAccount__c", "encryptedstring", "Bank Account", 175),
        Field("Memo__c", "textarea", "Memo", 255),
        Field("Notes__c", "textarea", "Notes", 32768),
        Field("ShipTo__Street__s", "textarea", "Ship To (Street)", 255, compound="ShipTo__c"),
        Field("ShipTo__City__s", "string", "Ship To (City)", 40, compound="ShipTo__c"),
        Field("ShipTo__PostalCode__s", "string", "Ship To (Zip/Postal Code)", 20, compound="ShipTo__c"),
        Field("ShipTo__StateCode__s", "picklist", "Ship To (State/Province)", 10, compound="ShipTo__c",
              picklist=("CA", "NY", "TX", "WA", "ON", "QC", "BC")),
        Field("ShipTo__CountryCode__s", "picklist", "Ship To (Country)", 10, compound="ShipTo__c",
              picklist=("US", "CA", "DE", "GB", "FR", "JP")),
        Field("ShipTo__Latitude__s", "double", "Ship To (Latitude)", precision=18, scale=15, compound="ShipTo__c"),
        Field("ShipTo__Longitude__s", "double", "Ship To (Longitude)", precision=18, scale=15,
              compound="ShipTo__c"),
        Field("ShipTo__GeocodeAccuracy__s", "picklist", "Ship To (Geocode Accuracy)", 40, compound="ShipTo__c",
              picklist=("Address", "Street", "Zip", "City", "Unknown")),
        Field("ShipTo__c", "address", "Ship To"),
        Field("Warehouse__Latitude__s", "double", "Warehouse (Latitude)", precision=18, scale=15,
              compound="Warehouse__c"),
        Field("Warehouse__Longitude__s", "double", "Warehouse (Longitude)", precision=18, scale=15,
              compound="Warehouse__c"),
        Field("Warehouse__c", "location", "Warehouse"),
        Field("Attachment__c", "base64", "Attachment", 32000000),
        Field("LegacyValue__c", "anyType", "Legacy Value"),
        Field("Payload__c", "json", "Payload", 131072),
        Field("Settings__c", "complexvalue", "Settings"),
    ),
)

#: NetSuite's invoices, written back by the NetSuite → Salesforce pipeline (a custom object an admin deploys).
_NETSUITE_INVOICE = SObject(
    "NetSuite_Invoice__c", "a01", "NetSuite Invoice", "NetSuite Invoices",
    (
        Field("Id", "id", "Record ID", 18, nillable=False, system=True),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, system=True),
        Field("Name", "string", "NetSuite Invoice Number", 80, nillable=False, name_field=True),
        *_audit(),
        Field("NetSuite_Id__c", "string", "NetSuite Id", 40, nillable=False, external_id=True, unique=True),
        Field("Account__c", "reference", "Account", reference_to=("Account",), relationship_name="Account__r"),
        Field("Opportunity__c", "reference", "Opportunity", reference_to=("Opportunity",),
              relationship_name="Opportunity__r"),
        Field("Status__c", "picklist", "Status", 255, picklist=("Open", "Paid In Full", "Voided")),
        Field("Invoice_Date__c", "date", "Invoice Date"),
        Field("Due_Date__c", "date", "Due Date"),
        Field("Total__c", "currency", "Total", precision=18, scale=2),
        Field("Amount_Paid__c", "currency", "Amount Paid", precision=18, scale=2),
        Field("Amount_Remaining__c", "currency", "Amount Remaining", precision=18, scale=2),
        Field("Currency__c", "string", "Currency", 3),
        Field("NetSuite_Link__c", "url", "NetSuite Link", 255),
        Field("NetSuite_Last_Sync__c", "datetime", "NetSuite Last Sync"),
    ),
)

OBJECTS: dict[str, SObject] = {
    o.name: o
    for o in (_ACCOUNT, _CONTACT, _PRODUCT, _PRICEBOOK, _PRICEBOOK_ENTRY, _OPPORTUNITY, _LINE_ITEM, _QUOTE,
              _QUOTE_LINE_ITEM, _USER, _INVOICE, _NETSUITE_INVOICE)
}
OBJECTS_LOWER: dict[str, SObject] = {name.lower(): o for name, o in OBJECTS.items()}


def sobject(name: str) -> SObject | None:
    """Look an sObject up the way the API does: case-insensitively."""
    return OBJECTS_LOWER.get(name.lower())


def compound_key(component: Field) -> str:
    """Key of a component inside its compound value: BillingPostalCode → postalCode, ShipTo__City__s → city."""
    base = component.compound or ""
    if component.name.endswith("__s"):
        part = component.name[len(base) - 3 + 2: -3]  # ShipTo__City__s → City
    else:
        part = component.name[len(base) - len("Address"):]  # BillingPostalCode → PostalCode
    return part[0].lower() + part[1:]
