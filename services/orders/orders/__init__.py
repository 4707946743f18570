"""orders service: Orders, their pricing, audit rules and timeline."""
