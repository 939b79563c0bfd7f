"""A Python client process that pings every 10 s: holds WatchInvoiceEvents and prints the first event as JSON.

Usage: python -m tests.support.watch_client <host:port> <api key> <after_sequence>

A process of its own, like the Go client, so that a stream held open for a long time never shares the test
process (which forks PostgreSQL servers) with an active gRPC call.
"""

from __future__ import annotations

import json
import sys

import grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc

# What a Python client sets to ping every 10 s even while idle (grpc-go and grpc-java settings in the field).
PINGING_CLIENT = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def main(target: str, key: str, after_sequence: str) -> int:
    """Watch until the first event; print it."""
    with grpc.insecure_channel(target, options=PINGING_CLIENT) as channel:
        watch = invoice_service_pb2_grpc.InvoiceServiceStub(channel).WatchInvoiceEvents(
            invoice_service_pb2.WatchInvoiceEventsRequest(after_sequence=int(after_sequence)),
            metadata=(("authorization", f"Bearer {key}"),),
            timeout=600,
        )
        print("watching", file=sys.stderr, flush=True)
        try:
            event = next(watch)
        except grpc.RpcError as error:
            print(f"failed: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        name = invoice_pb2.InvoiceEventType.Name(event.type)
        print(json.dumps({"sequence": event.sequence, "type": name, "invoice_id": event.invoice_id}))
        watch.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
