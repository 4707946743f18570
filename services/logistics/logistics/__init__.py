"""logistics service: Shipping templates and quotes, carriers, shipments and tracking."""
