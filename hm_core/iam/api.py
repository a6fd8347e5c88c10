"""Contract §2: token obtain and refresh, and who am I."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from ninja_jwt.settings import api_settings as jwt_settings

from hm_core.common.schemas import ErrorOut
from hm_core.iam import selectors, services
from hm_core.iam.auth import user_auth
from hm_core.iam.errors import TokenInvalid
from hm_core.iam.schemas import (
    MeOut,
    TokenCookieParams,
    TokenObtainIn,
    TokenPairOut,
    TokenRefreshIn,
)

router = Router(tags=["auth"])
REFRESH_COOKIE = "hm_refresh"
REFRESH_COOKIE_PATH = "/api/auth/"
TOKEN_RESPONSES: dict[int, object] = {200: TokenPairOut, 401: ErrorOut, 422: ErrorOut}


def _answer(pair: services.TokenPair, response: HttpResponse, *, cookie: bool) -> dict[str, str]:
    """The pair in the body, or (browser clients) the refresh token only in an HttpOnly,
    Secure, SameSite=Strict cookie scoped to /api/auth/, out of reach of page scripts."""
    if not cookie:
        return {"access": pair.access, "refresh": pair.refresh}
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh,
        max_age=int(jwt_settings.REFRESH_TOKEN_LIFETIME.total_seconds()),
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    return {"access": pair.access}


@router.post("/token/", response=TOKEN_RESPONSES, auth=None, exclude_none=True)
def tokens_obtain(
    request: HttpRequest,
    payload: TokenObtainIn,
    params: Query[TokenCookieParams],
    response: HttpResponse,
) -> dict[str, str]:
    """Exchange username and password for an access token (10 min) and a refresh token."""
    pair = services.tokens_obtain(username=payload.username, password=payload.password)
    return _answer(pair, response, cookie=params.cookie)


@router.post("/token/refresh/", response=TOKEN_RESPONSES, auth=None, exclude_none=True)
def tokens_refresh(
    request: HttpRequest,
    payload: TokenRefreshIn,
    params: Query[TokenCookieParams],
    response: HttpResponse,
) -> dict[str, str]:
    """Rotate a refresh token (from the body, else the cookie): a new pair; the presented
    refresh token stops working. One read from the cookie is answered with the cookie."""
    from_cookie = payload.refresh is None
    refresh = payload.refresh or request.COOKIES.get(REFRESH_COOKIE)
    if not refresh:
        raise TokenInvalid()
    pair = services.tokens_refresh(refresh=refresh)
    return _answer(pair, response, cookie=params.cookie or from_cookie)


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
