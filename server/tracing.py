"""OpenTelemetry tracing, off by default.

With `INVOICING_OTLP_ENDPOINT` set (an OTLP/gRPC collector, `http://host:4317`), every RPC gets a SERVER
span (`server.interceptors.tracing`) and each database statement a CLIENT span beneath it (the maintained
asyncpg instrumentation), exported in batches. When it is unset nothing is installed: no interceptor, no
instrumentation, no cost.
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from server.config import Settings

SERVICE_NAME = "invoice-service"


def provider_from_settings(settings: Settings) -> TracerProvider | None:
    """A tracer provider exporting over OTLP to the configured endpoint, or None when tracing is off."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = new_provider(settings.trace_sample_ratio)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


def new_provider(sample_ratio: float = 1.0) -> TracerProvider:
    """A tracer provider for this service (no processor yet), sampling a ratio of new traces and following
    the caller's decision for traces it continues."""
    return TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )


def instrument_database(provider: TracerProvider) -> None:
    """Trace every asyncpg statement with provider (process-wide)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().instrument(tracer_provider=provider)


def uninstrument_database() -> None:
    """Stop tracing asyncpg statements."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
