"""What the operator allows: whether visitors may start downloads at all (MAE_ALLOW_DOWNLOADS, off by default on
a hosted server) and the largest download when the catalogue gives no size (MAE_MAX_DOWNLOAD_GB)."""
from __future__ import annotations

from .. import settings


def downloads_allowed() -> bool:
    """MAE_ALLOW_DOWNLOADS: explicit 1/0 wins. Unset: on, except on a server set up for hosting
    (MAE_ALLOW_LOCAL_PATHS=0), where visitors must not trigger multi-GB downloads."""
    v = settings.get("MAE_ALLOW_DOWNLOADS")
    return settings.get("MAE_ALLOW_LOCAL_PATHS") if v is None else v


def _max_bytes() -> int:
    return int(settings.get("MAE_MAX_DOWNLOAD_GB") * 2**30)
