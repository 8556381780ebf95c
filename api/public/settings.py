"""What a public server deployment tunes, read from the ``RULELOG_*`` variables."""

from __future__ import annotations

from dataclasses import dataclass, field

from rulelog.api.body_limit import DEFAULT_MAX_BODY_BYTES
from rulelog.api.config import settings
from rulelog.api.content_signature import SigningSettings
from rulelog.api.public.front import DEFAULT_CACHE_ENTRIES
from rulelog.domain.serving.blobs.common import ServingSettings
from rulelog.projections.blobs import DEFAULT_BLOB_CACHE

__all__ = ["PublicSettings"]


@dataclass(frozen=True)
class PublicSettings:
    """What a deployment tunes; ``from_env`` reads the ``RULELOG_*`` variables."""

    cache_control: str = "public, max-age=90"
    poll_interval: float = 0.2
    #: The interpreter's switch interval in a serving process (``PublicServer.start``).
    switch_interval: float = 0.001
    serving: ServingSettings = field(default_factory=ServingSettings)
    version_file: str | None = None
    commit: str = "unknown"
    #: Start the follower thread; tests that drive ``poll_once`` themselves turn it off.
    follow: bool = True
    #: Update answers cached per index generation (``api.public.front``); 0 turns it off.
    answer_cache: int = DEFAULT_CACHE_ENTRIES
    #: Release blobs kept in memory (``projections.blobs.BlobCache``).
    blob_cache_size: int = DEFAULT_BLOB_CACHE
    #: Start from the newest checkpoint of the timeline (after bringing it up to date)
    #: rather than folding the whole log; off, the node folds from position 1.
    start_from_checkpoint: bool = True
    #: Who signs which answers (``api.content_signature``; none by default).
    signing: SigningSettings = field(default_factory=SigningSettings)
    #: The longest request body accepted (``RULELOG_MAX_BODY_BYTES``); longer ones are 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Share of answered update requests sampled for ``rulelog impact``, and how many
    #: are kept (``api.public.sampling``); 0 samples none.
    impact_sample_rate: float = 0.0
    impact_sample_size: int = 100_000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PublicSettings:
        loaded = settings(env)
        return cls(
            cache_control=loaded.cache_control,
            poll_interval=loaded.poll_interval,
            switch_interval=loaded.switch_interval,
            version_file=str(loaded.version_file) if loaded.version_file else None,
            answer_cache=loaded.answer_cache,
            blob_cache_size=loaded.blob_cache_size,
            start_from_checkpoint=loaded.start_from_checkpoint,
            serving=ServingSettings(allowlist=loaded.allowlist()),
            commit=loaded.commit,
            signing=SigningSettings.from_settings(loaded),
            max_body_bytes=loaded.max_body_bytes,
            impact_sample_rate=loaded.impact_sample_rate,
            impact_sample_size=loaded.impact_sample_size,
        )
