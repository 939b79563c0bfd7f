"""The billing engine's I/O side: usage measurement, subscription invoices and the period-end runner."""
