"""Deadline propagation: the client's deadline becomes the bound of every database wait of the call."""

from __future__ import annotations

import grpc

from server import context
from server.interceptors.base import BeforeCall


class DeadlinePropagation(BeforeCall):
    """Records the call's method and deadline in `server.context` (read by the pools)."""

    def before(self, call: grpc.aio.ServicerContext, method: str) -> None:
        context.set_method(method)
        context.set_deadline(call.time_remaining())
