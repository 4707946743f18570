"""aftersales service: Return, exchange and refund-only cases, complaints and their SLAs."""
