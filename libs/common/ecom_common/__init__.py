"""Shared foundation of the ecom services: config, database, bus, outbox/inbox, HTTP kit, auth,
observability. Import submodules directly (`from ecom_common.db import Database`)."""
