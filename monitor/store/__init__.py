"""The system of record: readings, events and configuration versions; append-only, hash-chained."""

from monitor.store.base import Store, StoreError, VerifyResult

__all__ = ["Store", "StoreError", "VerifyResult"]
