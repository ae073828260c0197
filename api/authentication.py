"""API token authentication: django-rest-knox's hashed tokens.

The database keeps the SHA-512 digest of each token and its first 15
characters (``token_key``, to find the row); the token itself exists only in
the response that created it. The header stays ``Authorization: Token <token>``
(``REST_KNOX["AUTH_HEADER_PREFIX"]``).

One change to knox: a request does not read all of the user's tokens to
delete the expired ones (one query per request); an expired token is
refused, and deleted, when it is presented.
"""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired


class TokenAuthentication(KnoxTokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=type(self), username=username, source="auth_token")
            return True
        return False


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme: ``Authorization: Token <token>``."""

    target_class = "api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization",
                                                   token_prefix=self.target.authenticate_header(None))
