"""Settings, read from environment variables (INVOICING_*, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.api.streaming import StreamSettings
from server.db.pool import PoolSettings


class Settings(BaseSettings):
    """Everything that can be configured. Every field has a safe default for local use."""

    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "INVOICING_DATABASE_URL"),
        description="PostgreSQL DSN; unset means an embedded server with its data under data_dir.",
    )
    direct_database_url: str | None = Field(
        default=None,
        description="DSN that reaches PostgreSQL directly when DATABASE_URL goes through PgBouncer in transaction"
        " pooling mode: migrations and the LISTEN connection use it (unset: DATABASE_URL).",
    )
    data_dir: Path = Field(default=Path(".data"), description="Local state: embedded PostgreSQL data, demo key.")
    listen: str = Field(default="127.0.0.1:50051", description="host:port to serve gRPC on.")
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes sharing the port (SO_REUSEPORT), each with its own event loop and pools;"
        " serve --workers overrides it.",
    )
    reuse_port: bool = Field(
        default=False,
        description="Bind the port with SO_REUSEPORT so other processes can serve on it too (the workers of"
        " serve --workers set it; off, a second server on a taken port fails to start).",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain; enables TLS with tls_key_file."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key for tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle; when set, clients need a certificate (mTLS)."
    )
    db_partitions: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="A new schema's account-scoped tables hash-partitioned by account_id into this many partitions"
        " (0: plain tables). An existing schema keeps the layout it was created with.",
    )
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    db_stream_pool_max: int = Field(default=4, ge=1, description="Connections List streams may use at once.")
    db_acquire_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest wait for a unary connection (then RESOURCE_EXHAUSTED POOL_EXHAUSTED)."
    )
    db_stream_acquire_timeout_s: float = Field(
        default=60.0, gt=0, description="Longest wait of a List stream for a connection (it holds nothing meanwhile)."
    )
    db_pool_account_share: float = Field(
        default=0.5, gt=0, le=1, description="Fraction of each pool's connections one account may hold at once."
    )
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, description="Cap on a statement without a deadline.")
    db_lock_timeout_ms: int = Field(default=5_000, ge=10, description="Cap on waiting for a row lock.")
    db_statement_cache_size: int = Field(default=256, ge=0, description="asyncpg's prepared statement cache.")
    db_transaction_pooling: bool = Field(
        default=False,
        description="DATABASE_URL goes through PgBouncer in transaction pooling mode: no statement cache, no"
        " session state; set INVOICING_DIRECT_DATABASE_URL for migrations and LISTEN.",
    )
    api_key_cache_seconds: float = Field(default=5.0, ge=0, description="How long a checked API key is trusted.")
    stream_batch_records: int = Field(default=250, ge=1, le=10_000)
    stream_batch_bytes: int = Field(default=1_000_000, ge=10_000, le=3_000_000)
    stream_stall_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a List stream keeps its connection while its client does not read."
    )
    stream_stall_timeout_busy_s: float = Field(
        default=2.0, gt=0, description="The same while another stream waits for a connection it could use."
    )
    max_concurrent_calls: int = Field(
        default=512, ge=1, description="Calls in flight per server process; more are refused RESOURCE_EXHAUSTED."
    )
    max_concurrent_calls_per_account: int = Field(
        default=64, ge=1, description="Calls in flight per account and process; more are refused RESOURCE_EXHAUSTED."
    )
    max_running_calls_per_account: int = Field(
        default=0,
        ge=0,
        description="Unary calls of one account that run at once while other accounts are active; its other admitted"
        " calls wait their turn in arrival order, within their deadline (0, the default: no bound). Off by default:"
        " a bound trades a busy account's parallelism for the other accounts' latency tails.",
    )
    account_active_window_s: float = Field(
        default=1.0, ge=0, description="How long after its last call an account still counts as active (for turns)."
    )
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    idempotency_retention_days: int = Field(default=7, ge=1)
    event_retention_days: int = Field(default=30, ge=1, description="How long invoice change events are kept.")
    health_check_interval_s: float = Field(default=2.0, gt=0, description="How often the database is probed.")
    health_check_timeout_s: float = Field(default=2.0, gt=0, description="How long one probe waits for an answer.")
    health_failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed probes before health reports NOT_SERVING."
    )
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    billing_interval_s: float = Field(default=30.0, gt=0, description="How often the period-end runner looks for work.")
    billing_grace_hours: float = Field(
        default=12.0, ge=0, description="How long usage invoices wait after their period for late events."
    )
    metrics_listen: str | None = Field(
        default=None, description="host:port to serve Prometheus /metrics on (off when unset)."
    )
    log_level: str = Field(default="INFO")
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC collector (http://host:4317) to export traces to; tracing is off when unset.",
    )
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1, description="Share of new traces recorded.")
    # Keepalive and connection lifetime (grpc core channel arguments; see the README's configuration table).
    keepalive_time_ms: int = Field(
        default=30_000, ge=1_000, description="The server pings a connection after this long without activity."
    )
    keepalive_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="A ping unanswered for this long closes the connection."
    )
    keepalive_permit_without_calls: bool = Field(
        default=True, description="Accept client pings (and ping) on connections with no call in flight."
    )
    min_ping_interval_ms: int = Field(
        default=5_000,
        ge=0,
        description="Client pings closer together than this count as strikes (clients pinging every 10 s are fine).",
    )
    max_ping_strikes: int = Field(
        default=2, ge=0, description="Pings too close together tolerated before GOAWAY too_many_pings (0: no limit)."
    )
    max_connection_age_ms: int = Field(
        default=1_800_000,
        ge=0,
        description="Connections get GOAWAY after this long (±10% jitter), so clients rebalance (0: never).",
    )
    max_connection_age_grace_ms: int = Field(
        default=300_000, ge=0, description="Time calls in flight get to finish after that GOAWAY."
    )
    max_connection_idle_ms: int = Field(
        default=0, ge=0, description="Connections without a call for this long are closed (0: never)."
    )

    def pool_settings(self) -> PoolSettings:
        """The pool part of the settings."""
        return PoolSettings(
            min_size=self.db_pool_min,
            max_size=self.db_pool_max,
            stream_max_size=self.db_stream_pool_max,
            statement_timeout_ms=self.db_statement_timeout_ms,
            lock_timeout_ms=self.db_lock_timeout_ms,
            acquire_timeout_s=self.db_acquire_timeout_s,
            stream_acquire_timeout_s=self.db_stream_acquire_timeout_s,
            account_share=self.db_pool_account_share,
            statement_cache_size=self.db_statement_cache_size,
            transaction_pooling=self.db_transaction_pooling,
        )

    def grpc_options(self) -> list[tuple[str, int]]:
        """grpc core channel arguments of the server: message limits, keepalive and connection age."""
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", int(self.reuse_port)),
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", int(self.keepalive_permit_without_calls)),
            # The server keeps pinging idle connections (by default it stops after two pings without data).
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.http2.min_ping_interval_without_data_ms", self.min_ping_interval_ms),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", self.min_ping_interval_ms),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
        ]
        if self.max_connection_age_ms:
            options.append(("grpc.max_connection_age_ms", self.max_connection_age_ms))
            options.append(("grpc.max_connection_age_grace_ms", self.max_connection_age_grace_ms))
        if self.max_connection_idle_ms:
            options.append(("grpc.max_connection_idle_ms", self.max_connection_idle_ms))
        return options

    def stream_settings(self) -> StreamSettings:
        """The streaming part of the settings."""
        return StreamSettings(
            batch_records=self.stream_batch_records,
            batch_bytes=self.stream_batch_bytes,
            stall_timeout_s=self.stream_stall_timeout_s,
            stall_timeout_busy_s=self.stream_stall_timeout_busy_s,
        )
