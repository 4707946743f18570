"""billing service: Payments, refunds, the merchant ledger and T+7 settlement."""
