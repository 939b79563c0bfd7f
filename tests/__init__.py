"""The test suite.

grpc core's fork handlers run in any child forked while gRPC threads are busy, and can crash it before it
execs: pgserver starts and stops PostgreSQL (initdb, pg_ctl) from a child forked with a preexec_fn, while
the test process serves gRPC. No test forks a process that itself uses gRPC, so the handlers are turned off
before grpc is first imported.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
