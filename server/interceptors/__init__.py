"""Server interceptors, one job each, composed in `server.app` (outermost first):

errors.ErrorsAndMetrics: every failure → one status (`server.errors`), metrics per call;
deadline.DeadlinePropagation: the method and the client's deadline → `server.context` (database work stops with it);
auth.Authentication: `authorization: Bearer <key>` → the caller's account and key in `server.context`;
decoding.RequestDecoding: request bytes that are not the request message → INVALID_ARGUMENT, not UNKNOWN.
"""
