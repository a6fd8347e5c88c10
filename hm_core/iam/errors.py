"""IAM error codes."""

from hm_core.common.errors import BadRequest, NotAuthenticated, TooManyRequests, ValidationFailed


class InvalidCredentials(NotAuthenticated):
    default_code = "invalid_credentials"
    default_message = "Username or password is wrong, or the account is inactive."


class TokenInvalid(NotAuthenticated):
    default_code = "token_invalid"
    default_message = "The token is invalid, expired or revoked."


class WrongPassword(BadRequest):
    """400, not 401: the bearer token is fine, so clients must not refresh and retry."""

    default_code = "wrong_password"
    default_message = "The current password is wrong."


class WeakPassword(ValidationFailed):
    default_code = "weak_password"
    default_message = "The new password is too weak."


class ResetTokenInvalid(BadRequest):
    default_code = "invalid_token"
    default_message = "The password reset token is used, expired or unknown."


class TooManyAttempts(TooManyRequests):
    default_code = "too_many_attempts"
    default_message = "Too many failed sign-in attempts; wait before trying again."


class RateLimited(TooManyRequests):
    default_code = "rate_limited"
    default_message = "Too many requests; slow down."
