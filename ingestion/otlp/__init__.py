"""OpenTelemetry ingest: `POST /v1/traces` on the HTTP loader turns GenAI spans into events.

- `decode`: OTLP/HTTP bodies (protobuf or OTLP/JSON) -> spans; the answers exporters expect.
- `mapping`: a span -> contract events (the GenAI conventions, their aliases, providers).
- `route`: the request handler, sharing the loader's tokens, limits, WAL and quarantine.

The mapping is documented for users in schemas/README.md ("OpenTelemetry").
"""
