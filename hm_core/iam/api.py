"""Contract §2: token obtain and refresh, and who am I."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from hm_core.common.schemas import ErrorOut
from hm_core.iam import selectors, services
from hm_core.iam.auth import user_auth
from hm_core.iam.schemas import MeOut, TokenObtainIn, TokenPairOut, TokenRefreshIn

router = Router(tags=["auth"])


@router.post("/token/", response={200: TokenPairOut, 401: ErrorOut}, auth=None)
def tokens_obtain(request: HttpRequest, payload: TokenObtainIn) -> services.TokenPair:
    """Exchange username and password for an access token (10 min) and a refresh token."""
    return services.tokens_obtain(username=payload.username, password=payload.password)


@router.post("/token/refresh/", response={200: TokenPairOut, 401: ErrorOut}, auth=None)
def tokens_refresh(request: HttpRequest, payload: TokenRefreshIn) -> services.TokenPair:
    """Rotate a refresh token: a new pair; the presented refresh token stops working."""
    return services.tokens_refresh(refresh=payload.refresh)


@router.get("/me/", response={200: MeOut, 401: ErrorOut}, auth=user_auth)
def me(request: HttpRequest) -> dict[str, object]:
    """The signed-in user and their active facility memberships."""
    user = request.auth  # type: ignore[attr-defined]
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "memberships": selectors.memberships_of(user),
    }
