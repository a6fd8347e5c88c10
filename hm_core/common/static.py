"""Static files in production: the API docs and the admin work whether or not collectstatic ran."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class LenientManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed names when `collectstatic` has run; the plain name when it has not.

    The parent raises on a file missing from the manifest (or from STATIC_ROOT), which turned
    `/api/docs/` into a 500 on a server started without `collectstatic`; WhiteNoise then serves
    the plain name from the apps' own static directories (`WHITENOISE_USE_FINDERS`).
    """

    def stored_name(self, name: str) -> str:
        try:
            return str(super().stored_name(name))
        except ValueError:
            return name
