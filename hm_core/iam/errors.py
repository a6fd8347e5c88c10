"""IAM error codes."""

from hm_core.common.errors import NotAuthenticated


class InvalidCredentials(NotAuthenticated):
    default_code = "invalid_credentials"
    default_message = "Username or password is wrong, or the account is inactive."


class TokenInvalid(NotAuthenticated):
    default_code = "token_invalid"
    default_message = "The token is invalid, expired or revoked."
