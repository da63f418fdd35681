"""OTLP/HTTP trace export bodies -> spans, and the answers OTLP exporters expect.

Both encodings of `ExportTraceServiceRequest` go through the `opentelemetry-proto` message:
protobuf (`application/x-protobuf`, the SDKs' default) is parsed as is; OTLP/JSON
(`application/json`) differs from protobuf's own JSON mapping only in its trace and span ids,
which are hex instead of base64, so they are turned into base64 and the document is parsed by
protobuf's JSON parser (64-bit integers as strings or numbers, enums as integers or names,
lowerCamelCase or original field names, unknown fields ignored, as the OTLP spec asks).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

PROTOBUF = "protobuf"
JSON = "json"
PROTOBUF_TYPES = {"application/x-protobuf", "application/protobuf"}

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


class OtlpBodyError(ValueError):
    """A body that is not an OTLP trace export at all (answered 400 or 415, quarantined)."""

    def __init__(self, status: int, reason_code: str, message: str):
        super().__init__(message)
        self.status = status
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class Span:
    """One span with its resource, attributes as plain Python values, ids as lowercase hex."""

    index: int  # position in the request, from 0
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    exception: dict[str, Any] | None = None  # attributes of its first `exception` event
    # The messages it came from (None for spans built in tests): what the quarantine keeps.
    proto: ProtoSpan | None = None
    resource_spans: ResourceSpans | None = None
    scope_spans: ScopeSpans | None = None

    def as_otlp_json(self) -> bytes:
        """This span alone as an OTLP/JSON export (ids in hex): what the quarantine keeps.

        A quarantined span can be posted to /v1/traces again once its producer is fixed.
        """
        if self.proto is None or self.resource_spans is None or self.scope_spans is None:
            return orjson.dumps({"name": self.name, "attributes": self.attributes})
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.CopyFrom(self.resource_spans.resource)
        rs.schema_url = self.resource_spans.schema_url
        ss = rs.scope_spans.add()
        ss.scope.CopyFrom(self.scope_spans.scope)
        ss.schema_url = self.scope_spans.schema_url
        ss.spans.add().CopyFrom(self.proto)
        doc = json_format.MessageToDict(request, use_integers_for_enums=True)
        for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            _ids_to_hex(span)
        return orjson.dumps(doc)


def request_format(content_type: str | None) -> str:
    """`protobuf` or `json` from Content-Type (415 for anything else)."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in PROTOBUF_TYPES:
        return PROTOBUF
    if ct == "application/json":
        return JSON
    raise OtlpBodyError(
        415,
        "unsupported_media_type",
        f"Content-Type {ct or '(none)'!r} is not an OTLP/HTTP encoding; send "
        "application/x-protobuf or application/json",
    )


def decode_request(body: bytes, fmt: str) -> ExportTraceServiceRequest:
    """Parse an export body of the given format (400 when it is not one)."""
    request = ExportTraceServiceRequest()
    if fmt == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpBodyError(
                400, "invalid_protobuf", f"the body is not an ExportTraceServiceRequest ({exc})"
            ) from None
        return request
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpBodyError(400, "invalid_json", f"the body is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise OtlpBodyError(400, "invalid_json", "an OTLP/JSON export is a JSON object")
    _hex_ids_to_base64(doc)
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise OtlpBodyError(
            400, "invalid_otlp_json", f"the body is not an OTLP/JSON trace export ({exc})"
        ) from None
    return request


def _id_fields(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(object, key, where) of every trace or span id of an OTLP/JSON document."""
    for i, rs in enumerate(_list(doc, "resourceSpans", "resource_spans")):
        scopes = _list(rs, "scopeSpans", "scope_spans")
        for j, ss in enumerate(scopes):
            for k, span in enumerate(_list(ss, "spans")):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                for key in ("traceId", "trace_id", "spanId", "span_id"):
                    yield span, key, where
                yield span, "parentSpanId", where
                yield span, "parent_span_id", where
                for n, link in enumerate(_list(span, "links")):
                    for key in ("traceId", "trace_id", "spanId", "span_id"):
                        yield link, key, f"{where}.links[{n}]"


def _list(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _hex_ids_to_base64(doc: dict[str, Any]) -> None:
    for obj, key, where in _id_fields(doc):
        value = obj.get(key)
        if not isinstance(value, str):
            continue
        try:
            obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise OtlpBodyError(
                400,
                "invalid_trace_id",
                f"{where}.{key} is {value[:40]!r}: OTLP/JSON ids are hex strings",
            ) from None


def _ids_to_hex(span: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in span:
            with contextlib.suppress(binascii.Error, ValueError):
                span[key] = base64.b64decode(span[key]).hex()


def value_of(v: AnyValue) -> Any:
    """An OTLP AnyValue as a plain value (arrays as lists, key-value lists as dicts)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind)


def attributes_of(kvs: Any) -> dict[str, Any]:
    """Key-value attributes as a dict (the first of repeated keys wins, as in the SDKs)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        if kv.key not in out:
            out[kv.key] = value_of(kv.value)
    return out


def spans_of(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of an export, in order, with its resource's attributes."""
    index = 0
    for rs in request.resource_spans:
        resource = attributes_of(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for sp in ss.spans:
                exception = next(
                    (attributes_of(e.attributes) for e in sp.events if e.name == "exception"),
                    None,
                )
                yield Span(
                    index=index,
                    trace_id=sp.trace_id.hex(),
                    span_id=sp.span_id.hex(),
                    parent_span_id=sp.parent_span_id.hex() or None,
                    name=sp.name,
                    start_ns=sp.start_time_unix_nano,
                    end_ns=sp.end_time_unix_nano,
                    status_code=sp.status.code,
                    status_message=sp.status.message,
                    attributes=attributes_of(sp.attributes),
                    resource=resource,
                    scope=scope,
                    exception=exception,
                    proto=sp,
                    resource_spans=rs,
                    scope_spans=ss,
                )
                index += 1


def export_response(fmt: str, rejected: int, message: str) -> bytes:
    """An `ExportTraceServiceResponse` in the request's encoding.

    `partial_success` is set when spans were rejected, or (with 0 rejected) to carry a
    warning such as dropped non-GenAI spans; an empty message means full success.
    """
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if fmt == JSON:
        return orjson.dumps(json_format.MessageToDict(response, use_integers_for_enums=True))
    return response.SerializeToString()


def error_status(fmt: str, code: int, message: str) -> bytes:
    """A `google.rpc.Status` body, which OTLP/HTTP puts in every 4xx and 5xx answer.

    Written by hand (code: field 1, varint; message: field 2, string): the message is not in
    `opentelemetry-proto`, and these two fields are all an exporter reads of it.
    """
    if fmt == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
