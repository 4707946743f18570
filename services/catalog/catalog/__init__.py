"""catalog service: Categories, products, SKUs, prices, the review workflow and the compliance scan."""
