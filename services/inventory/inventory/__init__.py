"""inventory service: Stock per SKU and warehouse, reservations, the stock ledger and alerts."""
