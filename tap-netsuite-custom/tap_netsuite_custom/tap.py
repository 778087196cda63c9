"""tap-netsuite-custom entry point: settings, discovery (standard columns + custom fields), streams.

Custom fields are discovered from the data: discovery runs `SELECT * FROM <table>` (with the stream's `type`
filter), newest records first, one page (`page_size` rows), and every column whose name is a custom field id
(`custentity…`, `custbody…`, `custcol…`, `custitem…`, `custrecord…`, `custevent…`) becomes a nullable string
property. SuiteQL leaves NULL columns out of a row, so a custom field no sampled record has a value for is not
seen: name it in `custom_fields` (`{"customer": ["custentity_tier"]}`), which always adds it. With an input
catalog (Meltano passes one on every run) the catalog's schema is used and discovery makes no call.

Plugin contract: every setting's type, default and secrecy is in `config_jsonschema` and nowhere else; the
settings are read once into `TapSettings`; a fatal error ends the run with one line (connector_kit.tap_base).
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from connector_kit.netsuite_auth import AuthError
from connector_kit.tap_base import OneLineTap
from connector_kit.writer import BufferedMsgSpecWriter
from singer_sdk import typing as th
from typing_extensions import override

from tap_netsuite_custom.client import MAX_PAGE, SuiteQLClient
from tap_netsuite_custom.errors import NetSuiteTapError
from tap_netsuite_custom.links import derived_props
from tap_netsuite_custom.reads import STREAMS, StreamSpec, is_custom_column, property_schema
from tap_netsuite_custom.settings import COLUMN_NAME, TapSettings
from tap_netsuite_custom.streams import SuiteQLStream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


def stream_schema(spec: StreamSpec, custom: list[str]) -> dict[str, t.Any]:
    properties = {c.prop: property_schema(c.kind) for c in spec.columns}
    properties.update({d.prop: property_schema(d.kind) for d in derived_props(spec.name)})
    properties["id"] = {"type": ["string"]}
    for name in custom:
        properties.setdefault(name, property_schema("string"))
    return {"type": "object", "properties": properties}


class TapNetSuiteCustom(OneLineTap):
    """Incremental NetSuite tap: SuiteQL on lastModifiedDate, key-set paging, bookmarks per complete page."""

    name = "tap-netsuite-custom"
    message_writer_class = BufferedMsgSpecWriter
    fatal_errors = (NetSuiteTapError, AuthError)

    config_jsonschema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True,
                    description="NetSuite account id (1234567, 1234567_SB1 for a sandbox); the host is derived."),
        th.Property("base_url", th.StringType,
                    description="Override of https://<account>.suitetalk.api.netsuite.com (https unless loopback)."),
        th.Property("auth_method", th.StringType, default="tba", allowed_values=["tba", "oauth2_m2m"],
                    description="tba (OAuth 1.0a token-based, HMAC-SHA256) or oauth2_m2m (client credentials, JWT)."),
        th.Property("consumer_key", th.StringType, secret=True, description="Integration record's consumer key (tba)."),
        th.Property("consumer_secret", th.StringType, secret=True, description="Consumer secret (tba)."),
        th.Property("token_id", th.StringType, secret=True, description="Access token id (tba)."),
        th.Property("token_secret", th.StringType, secret=True, description="Access token secret (tba)."),
        th.Property("client_id", th.StringType, secret=True,
                    description="Integration record's client id (oauth2_m2m)."),
        th.Property("certificate_id", th.StringType, description="M2M certificate id, the JWT `kid` (oauth2_m2m)."),
        th.Property("private_key", th.StringType, secret=True,
                    description="PEM private key (RSA or EC) that signs the client assertion (oauth2_m2m)."),
        th.Property("private_key_path", th.StringType, description="Path to the PEM private key (oauth2_m2m)."),
        th.Property("start_date", th.DateTimeType,
                    description="Earliest lastModifiedDate to read when a stream has no bookmark yet."),
        th.Property("lookback_seconds", th.IntegerType, default=300,
                    description="Each incremental read starts this far before the bookmark: records saved in the "
                                "bookmark's second and late commits are read again (never lost)."),
        th.Property("page_size", th.IntegerType, default=MAX_PAGE,
                    description="SuiteQL rows per request (1 to 1000)."),
        th.Property("account_timezone", th.StringType, default="UTC",
                    description="Time zone NetSuite shows date-times in for the integration's role (Set "
                                "Preferences), an IANA name: lastModifiedDate is read and compared in it."),
        th.Property("streams", th.ArrayType(th.StringType),
                    description=f"Streams to offer (default all: {', '.join(STREAMS)})."),
        th.Property("custom_fields", th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
                    description='Custom field ids always added to a stream, e.g. {"customer": ["custentity_tier"]}.'),
        th.Property("discover_custom_fields", th.BooleanType, default=True,
                    description="Discovery samples one page of each table and adds the custom field columns it sees."),
        th.Property("request_timeout", th.NumberType, default=300,
                    description="Seconds before an HTTP call times out."),
        th.Property("max_retries", th.IntegerType, default=5, description="Retries of a call failing with 5xx or a "
                    "timeout (429s are waited out, honouring Retry-After)."),
        th.Property("backoff_factor", th.NumberType, default=0.5,
                    description="Seconds; retry n waits a random time up to backoff_factor * 2**n (at most 60 s)."),
        th.Property("ca_bundle", th.StringType, description="CA file to verify TLS with. Verification is never off."),
    ).to_dict()

    @cached_property
    def settings(self) -> TapSettings:
        settings = TapSettings.from_config(self.config, list(STREAMS))
        if not 1 <= settings.page_size <= MAX_PAGE:
            raise NetSuiteTapError(f"page_size {settings.page_size} is out of range (1 to {MAX_PAGE})")
        return settings

    @cached_property
    def client(self) -> SuiteQLClient:
        return SuiteQLClient(self.settings)

    def discover_custom_fields(self, spec: StreamSpec) -> list[str]:
        """Custom field columns seen in one page of the table's newest records (see the module docstring)."""
        where = f" WHERE {spec.where}" if spec.where else ""
        body = self.client.page(f"SELECT * FROM {spec.table}{where} ORDER BY lastmodifieddate DESC",
                                limit=self.settings.page_size, offset=0)
        seen = {name for row in body["items"] for name in row if is_custom_column(name) and COLUMN_NAME.match(name)}
        return sorted(seen)

    @override
    def discover_streams(self) -> list[Stream]:
        settings = self.settings
        catalog = self.input_catalog
        streams: list[Stream] = []
        for name in settings.streams:
            spec = STREAMS[name]
            entry = catalog.get_stream(name) if catalog else None
            if entry is not None and entry.schema is not None:
                schema = entry.schema.to_dict()
            else:
                custom = self.discover_custom_fields(spec) if settings.discover_custom_fields else []
                schema = stream_schema(spec, [*custom, *settings.custom_fields.get(name, [])])
            for column in settings.custom_fields.get(name, []):
                schema["properties"].setdefault(column, property_schema("string"))
            streams.append(SuiteQLStream(self, spec=spec, schema=schema, client=self.client, settings=settings))
        return streams

    @override
    def run_discovery(self) -> str:
        try:
            return super().run_discovery()
        finally:
            self._log_calls()

    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        """Sync, then one `NetSuite SuiteQL calls: N` line (sync_all is final in the SDK; no after-sync hook)."""
        try:
            super().sync_all()
        finally:
            self._log_calls()

    def _log_calls(self) -> None:
        if "client" in self.__dict__:
            self.logger.info("NetSuite SuiteQL calls: %d", self.client.calls)


if __name__ == "__main__":
    TapNetSuiteCustom.cli()
