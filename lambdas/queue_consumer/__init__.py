"""The SQS FIFO front door: per-type JSON Schema validation, a tenant ledger, idempotency."""
