"""`netsuite-mapper`: a Singer SDK inline mapper that turns Salesforce records into NetSuite REST payloads.

Two layers, both configured in meltano.yml:

1. `stream_maps`: the SDK's own stream maps (`__alias__`, `__filter__`, `__else__`, `__key_properties__`, flat
   expressions), run by the SDK's `PluginMapper`: which streams go where, which records pass.
2. `payloads`: per output stream, a nested template of expressions (see `payloads.py`) that builds the NetSuite body:
   sublists, references, domain functions, deleted-record actions, flagged records.

A stream with no payload template leaves the mapper exactly as the stream maps made it.

Plugin contract: settings are declared once (`settings.CONFIG_SCHEMA`) and read once (`MapperSettings`); a bad
mapping, bad Singer input or refused settings end the run with one `Mapping error: ...` line and exit code 1,
through `connector_kit.cli.one_line_errors`. Private singer-sdk API used: `MsgSpecReader._process_unknown_message`
(below, the reader's only hook for an unknown message type; no upstream issue found).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import typing as t
from collections.abc import Iterable, Mapping

import msgspec
from connector_kit.cli import one_line_errors
from connector_kit.singer_input import NumberedLines, check_message, check_shape
from connector_kit.writer import BufferedMsgSpecWriter
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import MapExpressionError, RecordsWithoutSchemaException, StreamMapConfigError
from singer_sdk.mapper import PluginMapper, RemoveRecordTransform, StreamMap
from singer_sdk.mapper_base import InlineMapper
from singer_sdk.singerlib import ActivateVersionMessage, Message, RecordMessage, SchemaMessage, StateMessage
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from transform_mappers.expressions import Scope
from transform_mappers.functions import FunctionSettings, build_functions
from transform_mappers.payloads import (
    ERROR_KEY,
    AnyFields,
    MissingFieldTemplateError,
    Payload,
    PayloadOptions,
    TemplateError,
)
from transform_mappers.routing import RoutingConfigError, SubsidiaryRouting, routing_functions
from transform_mappers.settings import CONFIG_SCHEMA, MapperSettings


class MappingConfigError(Exception):
    """A mapping that cannot run: reported as one line naming the mapping, the stream and the expression."""


class StreamHeldError(MappingConfigError):
    """A payload leaf names a field its stream no longer has: only that stream stops (see `map_schema_message`)."""


class SingerInputError(MappingConfigError, RecordsWithoutSchemaException):
    """Malformed Singer input: one line naming the input line (also the SDK's RECORD-before-SCHEMA error)."""


_DECODER = msgspec.json.Decoder()


class CheckedMsgSpecReader(MsgSpecReader):
    """Singer input whose malformed lines (not JSON, not an object, an unknown type, a record or STATE value that
    is not an object) stop the mapper with one line naming the line number, before anything after it."""

    @override
    def process_lines(self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
                      ) -> t.Counter[str]:
        lines = NumberedLines(file_input or self.default_input)
        try:
            return super().process_lines(t.cast("t.IO[str]", lines), {
                kind: self._checked(kind, callback) for kind, callback in callbacks.items()
            })
        except InvalidInputLine as exc:
            raise SingerInputError(f"Singer input line {lines.number}: {exc}") from None
        except MappingConfigError as exc:
            if "arrived before its SCHEMA" in str(exc):
                raise SingerInputError(f"Singer input line {lines.number}: {exc}") from None
            raise

    @staticmethod
    def _checked(kind: str, callback: t.Callable[[dict], None]) -> t.Callable[[dict], None]:
        def check(message: dict) -> None:
            check_shape(kind, message)
            callback(message)

        return check

    @override
    def deserialize_json(self, line: str) -> dict:
        try:
            message = _DECODER.decode(line)
        except (msgspec.DecodeError, RecursionError, UnicodeEncodeError):
            # Not the SDK's: it logs the whole line with a traceback. The line may be JSON holding text that is not
            # valid UTF-8 (bytes read as lone surrogates, or a `\ud800` escape), which msgspec refuses.
            message = _with_invalid_text_replaced(line)
        message = check_message(message)
        if INVALID_TEXT_KEY in message and message["type"] != "RECORD":
            fields = ", ".join(message[INVALID_TEXT_KEY])
            raise InvalidInputLine(f"{message['type']} message holds text that is not valid UTF-8 ({fields})")
        return message

    @override
    def _process_unknown_message(self, message_dict: dict) -> None:
        raise InvalidInputLine(f"unknown Singer message type {str(message_dict['type'])[:40]!r}")


#: Set by the reader on a RECORD message whose text was not valid UTF-8: the paths of the values it repaired.
INVALID_TEXT_KEY = "__invalid_text__"
_SURROGATES = re.compile("[\ud800-\udfff]+")
_INVALID_JSON = "not valid JSON (or nested too deep)"


def _with_invalid_text_replaced(line: str) -> dict:
    """The message of a JSON line whose strings hold lone surrogates (invalid UTF-8 bytes read with
    `surrogateescape`, or `\ud800` escapes), each run replaced by U+FFFD and its path listed under
    `INVALID_TEXT_KEY`. A line that is not JSON, or holds no such text, stays refused as not valid JSON."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        raise InvalidInputLine(_INVALID_JSON) from None
    repaired: list[str] = []

    def scrub(value: t.Any, path: str) -> t.Any:
        if isinstance(value, str):
            if _SURROGATES.search(value):
                repaired.append(path or "(message)")
                return _SURROGATES.sub("\ufffd", value)
            return value
        if isinstance(value, list):
            return [scrub(item, f"{path}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {scrub(key, path): scrub(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
        return value

    try:
        message = scrub(message, "")
    except RecursionError:
        raise InvalidInputLine(_INVALID_JSON) from None
    if not repaired or not isinstance(message, dict):
        raise InvalidInputLine(_INVALID_JSON)
    message[INVALID_TEXT_KEY] = [path.removeprefix("record.") for path in dict.fromkeys(repaired)]
    return message


_Route = tuple[StreamMap, Payload | None]


class SalesforceToNetSuiteMapper(InlineMapper):
    """Maps Salesforce streams to NetSuite record payloads, as declared in the config."""

    name = "netsuite-mapper"
    package_name = "netsuite-mapper"
    message_reader_class = CheckedMsgSpecReader
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, **kwargs: t.Any) -> None:
        """Load the config and compile every template once without a schema, so a bad mapping fails here."""
        super().__init__(**kwargs)
        self.settings = settings = MapperSettings.from_config(self.config)
        self.label = settings.mapping_label
        try:
            self.stream_mapper = PluginMapper(plugin_config=dict(settings.config), logger=self.logger)
        except (MapExpressionError, StreamMapConfigError) as exc:
            raise MappingConfigError(f"mapping {self.label!r}, stream_maps: {exc}") from None
        self.functions = build_functions(FunctionSettings(
            default_phone_region=settings.default_phone_region,
            phone_format=settings.phone_format,
            picklists=settings.picklists,
        ))
        try:
            routing = SubsidiaryRouting.from_settings(settings.subsidiary_routing, settings.config.get("subsidiary_id"))
        except RoutingConfigError as exc:
            raise MappingConfigError(f"mapping {self.label!r}: {exc}") from None
        self.functions.update(routing_functions(routing))
        self.globals: dict[str, t.Any] = {name: spec.fn for name, spec in self.functions.items()}
        self.globals["config"] = dict(settings.config)
        self.options = PayloadOptions(
            deleted_record_action=settings.deleted_record_action,
            deleted_field=settings.deleted_field,
            field_lengths=settings.field_lengths,
        )
        self.templates: Mapping[str, Mapping[str, t.Any]] = settings.payloads
        routed = {k for k in self.stream_mapper.stream_maps_dict} | {
            d.get("__alias__") for d in self.stream_mapper.stream_maps_dict.values() if isinstance(d, dict)}
        for output in self.templates:
            self._compile(output, output, AnyFields(), where=f"payload {output!r}")
            if output not in routed:
                self.logger.warning("Payload %r is neither a stream nor an __alias__ in stream_maps: "
                                    "it applies only to an input stream of that name.", output)
        self.routes: dict[str, list[_Route]] = {}
        #: Held streams (a mapped field disappeared): their error line, and the bookmark each STATE keeps for them.
        self.held: dict[str, str] = {}
        self._pinned: dict[str, t.Any] = {}
        self._last_state: dict[str, t.Any] = {}

    def _compile(self, output: str, stream: str, fields: Mapping[str, t.Any], where: str) -> Payload:
        scope = Scope(stream=stream, fields=fields, functions=self.functions, config=self.globals["config"])
        try:
            return Payload(output, self.templates[output], scope, self.globals, self.options)
        except MissingFieldTemplateError as exc:
            raise StreamHeldError(f"mapping {self.label!r}, {where}: {exc}") from None
        except TemplateError as exc:
            raise MappingConfigError(f"mapping {self.label!r}, {where}: {exc}") from None
        except RecursionError:
            raise MappingConfigError(f"mapping {self.label!r}, {where}: template nested too deep") from None

    @override
    def map_schema_message(self, message_dict: dict) -> Iterable[Message]:
        """Register the stream with the SDK stream maps, compile its payload template against its schema.

        A template leaf naming a field the schema lacks (deleted or hidden in Salesforce) holds **that stream**
        instead of stopping the pipeline: its records are not passed on, every later STATE keeps its bookmark
        as it was before its SCHEMA (so the next run reads them again), the other streams go on, and the run
        ends with exit code 1 and one line naming the field and the leaf.
        """
        # `stream` and `schema` were checked by the reader (CheckedMsgSpecReader), before this is called.
        stream: str = message_dict["stream"]
        if stream in self.held:
            return
        try:
            yield from self._schema_messages(message_dict)
        except StreamHeldError as exc:
            self.held[stream] = f"{exc}; stream {stream!r} held: its records are not written and its state does not "
            self.held[stream] += "advance (the other streams go on)"
            self._pinned[stream] = (self._last_state.get("bookmarks") or {}).get(stream)
            self.routes[stream] = []

    def _schema_messages(self, message_dict: dict) -> Iterable[Message]:
        stream: str = message_dict["stream"]
        schema: dict = message_dict["schema"]
        key_properties = message_dict.get("key_properties") or []
        try:
            self.stream_mapper.register_raw_stream_schema(stream, schema, key_properties)
        except (MapExpressionError, StreamMapConfigError) as exc:
            raise MappingConfigError(f"mapping {self.label!r}, stream {stream!r}: {exc}") from None
        routes: list[_Route] = []
        schemas: list[SchemaMessage] = []
        for stream_map in self.stream_mapper.stream_maps[stream]:
            if isinstance(stream_map, RemoveRecordTransform):
                continue
            output = stream_map.stream_alias
            payload = None
            if output in self.templates:
                fields = stream_map.transformed_schema.get("properties") or {}
                payload = self._compile(output, stream, fields, where=f"stream {stream!r} -> {output!r}")
            routes.append((stream_map, payload))
            schemas.append(SchemaMessage(
                stream=output,
                schema=payload.schema if payload else stream_map.transformed_schema,
                key_properties=payload.key_properties if payload else stream_map.transformed_key_properties,
                # A payload no longer carries the input's bookmark fields (SystemModstamp, ...).
                bookmark_properties=None if payload else message_dict.get("bookmark_properties"),
            ))
        self.routes[stream] = routes
        yield from schemas  # only once every output compiled: a held stream sends no SCHEMA

    @override
    def map_record_message(self, message_dict: dict) -> Iterable[Message]:
        """Apply the stream maps, then the payload template, to one record."""
        stream: str = message_dict["stream"]
        routes = self.routes.get(stream)
        if routes is None:
            msg = f"RECORD for stream {stream!r} arrived before its SCHEMA"
            raise MappingConfigError(msg)
        extracted = message_dict.get("time_extracted")
        time_extracted = dt.datetime.fromisoformat(extracted) if isinstance(extracted, str) else None
        invalid_text = self._invalid_text(message_dict)
        for stream_map, payload in routes:
            try:
                record = stream_map.transform(message_dict["record"])
            except MapExpressionError as exc:
                # An SDK stream-map expression that fails names a field or a function wrongly: stop cleanly.
                msg = f"mapping {self.label!r}, stream {stream!r} -> {stream_map.stream_alias!r}: {exc}"
                raise MappingConfigError(msg) from None
            if record is not None and invalid_text and payload is None:
                msg = f"{invalid_text}; stream {stream!r} -> {stream_map.stream_alias!r} has no payload to flag it in"
                raise MappingConfigError(msg)
            if record is not None and payload is not None:
                record = payload.map(record)
                if record is not None and invalid_text:
                    record[ERROR_KEY] = "; ".join(filter(None, (record.get(ERROR_KEY), invalid_text)))
            if record is not None:
                yield RecordMessage(stream=stream_map.stream_alias, record=record,
                                    version=message_dict.get("version"), time_extracted=time_extracted)

    def _invalid_text(self, message_dict: dict) -> str:
        """The reason line of a record whose text was not valid UTF-8 (logged once), or "" for a sound record.

        Such a record is mapped with U+FFFD in place of the bad text and flagged with `_sdc_mapping_error`, so the
        target dead-letters it instead of writing the damaged text: nothing is lost, the run goes on.
        """
        fields = message_dict.pop(INVALID_TEXT_KEY, None)
        if not fields:
            return ""
        record = message_dict["record"]
        name = f"Id {str(record['Id'])[:40]!r}" if "Id" in record else "no Id"
        reason = (f"RECORD of stream {message_dict['stream']!r} ({name}) holds text that is not valid UTF-8 in "
                  f"{', '.join(fields)[:200]} (replaced by U+FFFD; fix it in the source)")
        self.logger.warning("Bad text: %s; flagged %s, so the target dead-letters it", reason, ERROR_KEY)
        return reason

    @override
    def map_state_message(self, message_dict: dict) -> Iterable[Message]:
        """STATE passes after every record before it (the mapper is strictly sequential); held streams keep theirs."""
        value = message_dict["value"]
        self._last_state = value
        if not self.held or not isinstance(value, dict):
            return [StateMessage(value=value)]
        bookmarks = dict(value.get("bookmarks") or {})
        for stream, pinned in self._pinned.items():
            if pinned is None:
                bookmarks.pop(stream, None)
            else:
                bookmarks[stream] = pinned
        return [StateMessage(value={**value, "bookmarks": bookmarks})]

    @override
    def map_activate_version_message(self, message_dict: dict) -> Iterable[Message]:
        """ACTIVATE_VERSION follows its stream to each output stream."""
        for stream_map, _payload in self.routes.get(message_dict["stream"], []):
            yield ActivateVersionMessage(stream=stream_map.stream_alias, version=message_dict["version"])

    @override
    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the mapper; a bad mapping ends it with one line naming the cause and exit code 1.

        The arguments pass through untouched, so the SDK's private `_ConfigInput` is never named here.
        """
        with one_line_errors(cls.logger, "Mapping error", (MappingConfigError,)):
            super().invoke(*args, **kwargs)

    @override
    def process_endofpipe(self) -> None:
        """Flush the records buffered since the last control message; then fail if a stream was held."""
        sys.stdout.flush()
        if self.held:
            raise MappingConfigError(" | ".join(self.held.values()))
