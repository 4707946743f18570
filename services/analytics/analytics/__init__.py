"""analytics: facts and rollups projected from events, visits, KPIs (issue 17)."""
