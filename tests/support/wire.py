"""Short names for the wire enum values that several test files compare responses with."""

from __future__ import annotations

from invoicing.v1 import customer_pb2, invoice_pb2, subscription_service_pb2

# Invoice statuses.
DRAFT = invoice_pb2.INVOICE_STATUS_DRAFT
ISSUED = invoice_pb2.INVOICE_STATUS_ISSUED
PAID = invoice_pb2.INVOICE_STATUS_PAID
SYNCED = invoice_pb2.INVOICE_STATUS_SYNCED
VOID = invoice_pb2.INVOICE_STATUS_VOID

# CancelSubscription's options.
END_OF_TERM = subscription_service_pb2.CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM
REQUESTED_DATE = subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE
IMMEDIATE = subscription_service_pb2.CANCEL_OPTION_IMMEDIATE

# Balance transactions a cancellation or a change settles a period with.
PRORATED_REFUND = customer_pb2.BALANCE_TRANSACTION_ACTION_PRORATED_REFUND
REVERT_PRORATED_REFUND = customer_pb2.BALANCE_TRANSACTION_ACTION_REVERT_PRORATED_REFUND
