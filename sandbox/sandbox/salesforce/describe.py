"""Describe responses (`/sobjects/` and `/sobjects/<Object>/describe`) built from the schema.

Every field object carries the 57 keys of a real describe, in the real (alphabetical) order; the values follow
the type the way a real org reports them (soapType, byteLength = 3 x length for text, digits for int, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from email.utils import format_datetime
from typing import Any

from sandbox.salesforce.schema import OBJECTS, Field, SObject

# When the sandbox's metadata last changed: the describe Last-Modified header.
SCHEMA_LAST_MODIFIED = dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "long": "xsd:long",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "time": "xsd:time", "base64": "xsd:base64Binary", "address": "urn:address",
    "location": "urn:location", "anyType": "xsd:anyType", "json": "urn:JsonType", "complexvalue": "urn:ComplexValue",
}
_TEXT_LENGTH_TYPES = {"id", "reference", "string", "textarea", "picklist", "multipicklist", "combobox", "email",
                      "phone", "url", "encryptedstring"}
_NOT_GROUPABLE = {"datetime", "double", "currency", "percent", "textarea", "multipicklist", "encryptedstring",
                  "base64", "address", "location", "json", "complexvalue", "anyType"}


def describe_field(obj: SObject, field: Field) -> dict[str, Any]:
    """One `fields[]` entry with all 57 keys."""
    kind = field.type
    text_like = kind in _TEXT_LENGTH_TYPES
    length = (field.length or 18) if kind in ("id", "reference") else (field.length if text_like else 0)
    if kind in ("base64", "json"):
        length = field.length
    writable = not field.system and not field.calculated and not field.is_compound and kind != "id"
    groupable = kind not in _NOT_GROUPABLE and not (kind == "textarea" and field.long_text) and kind != "datetime"
    if kind == "textarea" and not field.long_text:
        groupable = False
    compound_name = field.compound
    if obj.name in ("Account", "Contact", "User") and field.name == "Name":
        compound_name = "Name" if obj.name == "Account" else None
    return {
        "aggregatable": kind not in ("boolean", "textarea", "multipicklist", "base64", "address", "location",
                                     "json", "complexvalue", "encryptedstring", "anyType") and not field.long_text,
        "aiPredictionField": False,
        "autoNumber": field.auto_number,
        "byteLength": length * 3 if text_like and kind not in ("id", "reference") else length,
        "calculated": field.calculated,
        "calculatedFormula": field.formula,
        "cascadeDelete": field.cascade_delete,
        "caseSensitive": False,
        "compoundFieldName": compound_name,
        "controllerName": None,
        "createable": writable,
        "custom": field.custom,
        "defaultValue": False if kind == "boolean" and not field.system else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": field.system or kind == "boolean" or field.name == "OwnerId",
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": {"int": 9 if field.custom else 8, "long": 18}.get(kind, 0),
        "displayLocationInDecimal": False,
        "encrypted": kind == "encryptedstring",
        "externalId": field.external_id,
        "extraTypeInfo": _extra_type_info(field),
        "filterable": field.is_filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": field.calculated,
        "groupable": groupable,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": kind == "id" or field.external_id or (field.name in ("Username", "Email") and obj.name == "User"),
        "inlineHelpText": None,
        "label": field.label or field.name,
        "length": length,
        "mask": "lastFour" if kind == "encryptedstring" else None,
        "maskType": "all" if kind == "encryptedstring" else None,
        "name": field.name,
        "nameField": field.name_field,
        "namePointing": False,
        "nillable": field.nillable and kind != "boolean",
        "permissionable": (field.nillable and not field.system and kind != "boolean") or field.custom,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}
            for value in field.picklist
        ],
        "polymorphicForeignKey": False,
        "precision": field.precision if kind in ("double", "currency", "percent") else 0,
        "queryByDistance": field.is_compound,
        "referenceTargetField": None,
        "referenceTo": list(field.reference_to),
        "relationshipName": field.relationship_name,
        "relationshipOrder": 0 if field.cascade_delete else None,
        "restrictedDelete": False,
        "restrictedPicklist": kind == "picklist" and (field.compound is not None or field.custom),
        "scale": field.scale if kind in ("double", "currency", "percent") else 0,
        "searchPrefilterable": kind == "reference",
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": field.is_sortable,
        "type": kind,
        "unique": field.unique,
        "updateable": writable,
        "writeRequiresMasterRead": False,
    }


def _extra_type_info(field: Field) -> str | None:
    if field.type == "textarea":
        return "plaintextarea"
    if field.type == "url" and field.name == "PhotoUrl":
        return "imageurl"
    if field.name == "Name" and field.name_field and field.type == "string" and not field.auto_number:
        return "switchablepersonname" if field.label == "Account Name" else "personname" if (
            "Full" in field.label
        ) else None
    return None


def _urls(obj: SObject, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def _global_entry(obj: SObject, version: str) -> dict[str, Any]:
    is_user = obj.name == "User"
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": True,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": not is_user,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name in ("Account", "Contact", "Opportunity", "User"),
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": not is_user,
        "updateable": True,
        "urls": _urls(obj, version),
    }


def describe_global(version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_global_entry(obj, version) for obj in OBJECTS.values()],
    }


def _child_relationships(obj: SObject) -> list[dict[str, Any]]:
    children = []
    for child in OBJECTS.values():
        for field in child.fields:
            if obj.name in field.reference_to and field.relationship_name and not field.system:
                children.append({
                    "cascadeDelete": field.cascade_delete,
                    "childSObject": child.name,
                    "deprecatedAndHidden": False,
                    "field": field.name,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": _child_relationship_name(child, field),
                    "restrictedDelete": False,
                })
    return children


def child_relationship(parent: SObject, name: str) -> tuple[SObject, Field, str] | None:
    """`(child object, its reference field, relationship name)` of a parent's child relationship, by name."""
    for entry in _child_relationships(parent):
        if (entry["relationshipName"] or "").lower() == name.lower():
            child = OBJECTS[entry["childSObject"]]
            found = child.get(entry["field"])
            assert found is not None
            return child, found, entry["relationshipName"]
    return None


def _child_relationship_name(child: SObject, field: Field) -> str | None:
    if field.name in ("ParentId", "OwnerId"):
        return "ChildAccounts" if field.name == "ParentId" else None
    if child.custom:
        return child.label_plural.replace(" ", "") + "__r"
    return child.label_plural.replace(" ", "") if child.name != "OpportunityLineItem" else "OpportunityLineItems"


def describe_sobject(obj: SObject, version: str) -> dict[str, Any]:
    """The full describe of one sObject, top-level keys in the real order."""
    entry = _global_entry(obj, version)
    return {
        "actionOverrides": [],
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "childRelationships": _child_relationships(obj),
        "compactLayoutable": True,
        "createable": entry["createable"],
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": entry["deletable"],
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": entry["feedEnabled"],
        "fields": [describe_field(obj, field) for field in obj.fields],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": entry["mergeable"],
        "mruEnabled": True,
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [{
            "active": True, "available": True, "defaultRecordTypeMapping": True, "developerName": "Master",
            "master": True, "name": "Master", "recordTypeId": "012000000000000AAA",
            "urls": {"layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts/012000000000000AAA"},
        }],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": f"All {obj.label_plural.lower()}", "name": "everything"}],
        "triggerable": True,
        "undeletable": entry["undeletable"],
        "updateable": True,
        "urls": entry["urls"],
    }


def validators(body: dict[str, Any]) -> tuple[str, str]:
    """(ETag, Last-Modified) for a describe body: the ETag changes whenever the body does."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return f'"{digest}--gzip"', format_datetime(SCHEMA_LAST_MODIFIED, usegmt=True)
