"""Contract §2: token obtain and refresh, and who am I."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja_jwt.settings import api_settings as jwt_settings

from hm_core.common.client_ip import client_ip
from hm_core.common.schemas import ErrorOut
from hm_core.iam import selectors, services
from hm_core.iam.auth import user_auth
from hm_core.iam.errors import TokenInvalid
from hm_core.iam.schemas import (
    LogoutIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    TokenCookieParams,
    TokenObtainIn,
    TokenPairOut,
    TokenRefreshIn,
)

router = Router(tags=["auth"])
REFRESH_COOKIE = "hm_refresh"
REFRESH_COOKIE_PATH = "/api/auth/"
TOKEN_RESPONSES: dict[int, object] = {
    200: TokenPairOut,
    401: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


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
    pair = services.tokens_obtain(
        username=payload.username, password=payload.password, ip=client_ip(request)
    )
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


@router.get("/me/", response={200: MeOut, 401: ErrorOut, 429: ErrorOut}, auth=user_auth)
def me(request: HttpRequest) -> dict[str, object]:
    """The signed-in user and their active facility memberships."""
    user = request.auth  # type: ignore[attr-defined]
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "memberships": selectors.memberships_of(user),
    }


@router.post(
    "/logout/", response={204: None, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}, auth=user_auth
)
def logout(request: HttpRequest, payload: LogoutIn, response: HttpResponse) -> Status:
    """Revoke one refresh token (from the body, else the cookie, which is then cleared)."""
    refresh = payload.refresh or request.COOKIES.get(REFRESH_COOKIE)
    if not refresh:
        raise TokenInvalid()
    services.logout(user=request.auth, refresh=refresh)  # type: ignore[attr-defined]
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Strict")
    return Status(204, None)


@router.post(
    "/password/change/",
    response={204: None, 400: ErrorOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    auth=user_auth,
)
def password_change(request: HttpRequest, payload: PasswordChangeIn) -> Status:
    """Change one's own password (400 `wrong_password`, 422 `weak_password`); every refresh
    token of the user is revoked."""
    services.password_change(
        user=request.auth,  # type: ignore[attr-defined]
        old_password=payload.old_password,
        new_password=payload.new_password,
        ip=client_ip(request),
    )
    return Status(204, None)


@router.post("/password-reset/", response={202: None, 422: ErrorOut}, auth=None)
def password_reset_request(request: HttpRequest, payload: PasswordResetIn) -> Status:
    """Email a single-use reset token (valid 1 hour); 202 whether or not the user exists."""
    services.password_reset_request(username=payload.username)
    return Status(202, None)


@router.post(
    "/password-reset/confirm/", response={204: None, 400: ErrorOut, 422: ErrorOut}, auth=None
)
def password_reset_confirm(request: HttpRequest, payload: PasswordResetConfirmIn) -> Status:
    """Set a new password with the emailed token (400 `invalid_token`, 422 `weak_password`)."""
    services.password_reset_confirm(token=payload.token, new_password=payload.new_password)
    return Status(204, None)
