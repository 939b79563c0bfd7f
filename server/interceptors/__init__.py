"""Server interceptors, one job each, composed in `server.app` (outermost first):

errors.ErrorsAndMetrics: every failure → one status (`server.errors`), metrics per call;
deadline.DeadlinePropagation: the method and the client's deadline → `server.context` (database work stops with it);
auth.Authentication: `authorization: Bearer <key>` → the caller's account and key in `server.context`; open
    streams of a key end when it is revoked (revocation.OpenStreams, checked by a background task);
admission.Admission: calls in flight per server and per account bounded, the excess refused RESOURCE_EXHAUSTED;
decoding.RequestDecoding: request bytes that are not the request message → INVALID_ARGUMENT, not UNKNOWN.
"""
