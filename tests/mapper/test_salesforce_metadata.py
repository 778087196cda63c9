"""Issue 28 item 3: the metadata package `salesforce-metadata/` (Salesforce DX source format) an admin deploys holds
every custom field and object the write-back writes, exactly as the Salesforce stand-in declares them, and its
permission set lets the integration user edit them.

"Writes" is read from the project itself: the mapping `netsuite-to-salesforce`'s stream maps (meltano.yml), the
target's `streams` setting (output stream → sObject, upsert key), and the sync-status extractor's schema
(pipeline_ops.sync_status). A field added to any of them without the package (or the stand-in) fails here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from pipeline_ops.sync_status import OBJECTS as STATUS_OBJECTS
from pipeline_ops.sync_status import SCHEMA_PROPERTIES as STATUS_PROPERTIES
from sandbox.salesforce.schema import OBJECTS, Field

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "salesforce-metadata" / "force-app" / "main" / "default"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
#: Metadata API field types and the describe types the stand-in declares for them.
TYPES = {"Text": "string", "Url": "url", "LongTextArea": "textarea", "DateTime": "datetime", "Date": "date",
         "Currency": "currency", "Lookup": "reference", "Picklist": "picklist"}


def _text(element: ET.Element, name: str) -> str | None:
    found = element.find(f"md:{name}", NS)
    return found.text if found is not None else None


def _packaged() -> dict[tuple[str, str], ET.Element]:
    fields = {}
    for path in sorted(SOURCE.glob("objects/*/fields/*.field-meta.xml")):
        root = ET.parse(path).getroot()
        name = path.name.removesuffix(".field-meta.xml")
        assert _text(root, "fullName") == name, path
        fields[(path.parent.parent.name, name)] = root
    return fields


def _project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))


def _written() -> dict[str, set[str]]:
    """sObject → the fields the write-back jobs write (custom fields only: Id and Name are the records' own)."""
    plugins = _project()["plugins"]
    [mapper] = [m for m in plugins["mappers"] if m["name"] == "netsuite-mapper"]
    [mapping] = [m for m in mapper["mappings"] if m["name"] == "netsuite-to-salesforce"]
    [target] = [t for t in plugins["loaders"] if t["name"] == "target-salesforce-custom"]
    streams = target["config"]["streams"]
    written: dict[str, set[str]] = {}
    for key, stream_map in mapping["config"]["stream_maps"].items():
        if not isinstance(stream_map, dict):
            continue
        output = key if "__source__" in stream_map else stream_map.get("__alias__", key)
        assert output in streams, f"mapping output {output} is not in target-salesforce-custom's streams setting"
        sobject = streams[output].get("sobject") or output
        written.setdefault(sobject, set()).update(k for k in stream_map if k.endswith("__c"))
    for sobject in STATUS_OBJECTS.values():
        written.setdefault(sobject, set()).update(k for k in STATUS_PROPERTIES if k.endswith("__c"))
    return written


def _declared() -> dict[tuple[str, str], Field]:
    """The stand-in's write-back fields: the NetSuite_* fields of the written objects, every field of the
    custom object NetSuite_Invoice__c."""
    declared = {}
    for sobject in (*STATUS_OBJECTS.values(), "NetSuite_Invoice__c"):
        for field in OBJECTS[sobject].fields:
            if field.custom and (sobject == "NetSuite_Invoice__c" or field.name.startswith("NetSuite_")):
                declared[(sobject, field.name)] = field
    return declared


def test_the_package_holds_every_field_the_write_back_writes() -> None:
    packaged = _packaged()
    written = _written()
    assert {"Account", "Contact", "Opportunity", "Product2", "NetSuite_Invoice__c"} <= set(written)
    missing = sorted(f"{sobject}.{name}" for sobject, names in written.items() for name in names
                     if (sobject, name) not in packaged)
    assert missing == []
    assert (SOURCE / "objects" / "NetSuite_Invoice__c" / "NetSuite_Invoice__c.object-meta.xml").is_file()


def test_the_package_matches_the_stand_ins_schema() -> None:
    packaged, declared = _packaged(), _declared()
    assert sorted(packaged) == sorted(declared)
    for (sobject, name), xml in packaged.items():
        field, where = declared[(sobject, name)], f"{sobject}.{name}"
        assert TYPES[_text(xml, "type") or ""] == field.type, where
        assert _text(xml, "label") == field.label, where
        assert (_text(xml, "externalId") == "true") == field.external_id, where
        assert (_text(xml, "unique") == "true") == field.unique, where
        assert (_text(xml, "required") == "true") == (not field.nillable), where
        if field.type in ("string", "textarea"):
            assert int(_text(xml, "length") or 0) == field.length, where
        if field.type == "currency":
            assert (int(_text(xml, "precision") or 0), int(_text(xml, "scale") or 0)) == (
                field.precision, field.scale), where
        if field.type == "reference":
            assert (_text(xml, "referenceTo"),) == field.reference_to, where
        if field.type == "picklist":
            values = [v.findtext("md:fullName", namespaces=NS)
                      for v in xml.findall("md:valueSet/md:valueSetDefinition/md:value", NS)]
            assert tuple(values) == field.picklist, where
    custom = ET.parse(SOURCE / "objects" / "NetSuite_Invoice__c" / "NetSuite_Invoice__c.object-meta.xml").getroot()
    invoice = OBJECTS["NetSuite_Invoice__c"]
    assert (_text(custom, "label"), _text(custom, "pluralLabel")) == (invoice.label, invoice.label_plural)
    name_field = next(f for f in invoice.fields if f.name_field)
    assert custom.findtext("md:nameField/md:label", namespaces=NS) == name_field.label
    assert custom.findtext("md:nameField/md:type", namespaces=NS) == "Text"


def test_the_upsert_key_is_an_external_id_and_the_permission_set_grants_every_field() -> None:
    streams = next(t for t in _project()["plugins"]["loaders"] if t["name"] == "target-salesforce-custom")["config"][
        "streams"]
    packaged = _packaged()
    for spec in streams.values():
        if spec.get("external_id_field"):
            sobject = spec.get("sobject") or next(k for k, v in streams.items() if v is spec)
            assert _text(packaged[(sobject, spec["external_id_field"])], "externalId") == "true"
    permissions = ET.parse(SOURCE / "permissionsets" / "NetSuite_Integration.permissionset-meta.xml").getroot()
    editable = {p.findtext("md:field", namespaces=NS) for p in permissions.findall("md:fieldPermissions", NS)
                if p.findtext("md:editable", namespaces=NS) == "true"}
    # Salesforce refuses field permissions on a required field (it is always editable).
    expected = {f"{s}.{n}" for (s, n), xml in packaged.items() if _text(xml, "required") != "true"}
    assert editable == expected
    [invoice] = [o for o in permissions.findall("md:objectPermissions", NS)
                 if o.findtext("md:object", namespaces=NS) == "NetSuite_Invoice__c"]
    assert all(invoice.findtext(f"md:{p}", namespaces=NS) == "true" for p in ("allowCreate", "allowEdit", "allowRead"))
