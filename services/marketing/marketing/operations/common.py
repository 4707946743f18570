"""What every use case module shares: the context type and the reasons they agree on."""

from __future__ import annotations

from ecom_common.usecase import Ctx

from ..settings import Settings

MCtx = Ctx[Settings]
TIMEOUT = "timeout"  # the reason of a release by the lock timeout (release-stale-locks)
