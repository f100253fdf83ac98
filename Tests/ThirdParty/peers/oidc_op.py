"""A real OpenID provider for the third-party suite: django-oidc-provider (a production Django OP) in a
one-file Django project. gunicorn serves `oidc_op:app` over HTTPS (its --certfile/--keyfile, a test CA's
certificate); `python3 oidc_op.py setup` creates the database, one RSA signing key, a user and a client.

Environment: OIDC_OP_DIR (database directory), OIDC_OP_SITE (https://127.0.0.1:PORT, the issuer's origin),
OIDC_OP_REDIRECT (the client's redirect URI, for setup).
"""

import os
import sys

import django
from django.conf import settings

DIRECTORY = os.environ["OIDC_OP_DIR"]
SITE = os.environ["OIDC_OP_SITE"]

settings.configure(
    DEBUG=False,
    SECRET_KEY="oidc-op-test-secret-key-not-for-production-0123456789",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                    "oidc_provider"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DIRECTORY, "op.sqlite3")}},
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]}}],
    SITE_URL=SITE,
    LOGIN_URL="/accounts/login/",
    SESSION_COOKIE_SECURE=True,
    CSRF_COOKIE_SECURE=True,
    USE_TZ=True,
    OIDC_IDTOKEN_INCLUDE_CLAIMS=True,
    OIDC_USERINFO="oidc_op.userinfo",
    OIDC_IDTOKEN_PROCESSING_HOOK="oidc_op.idtoken_sid",
)
django.setup()

from django.contrib.auth import views as auth_views  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.urls import include, path  # noqa: E402

LOGIN_TEMPLATE = engines["django"].from_string(
    '<html><body><form method="post">{% csrf_token %}{{ form.as_p }}'
    '<input type="hidden" name="next" value="{{ next }}"><button type="submit">Sign in</button></form>'
    "</body></html>")


class LoginView(auth_views.LoginView):
    def get_template_names(self):
        return []

    def render_to_response(self, context, **kwargs):
        return HttpResponse(LOGIN_TEMPLATE.render(context, self.request))


def userinfo(claims, user):
    claims["email"] = user.email
    claims["name"] = user.get_full_name()
    claims["preferred_username"] = user.username
    return claims


def idtoken_sid(id_token, **kwargs):
    """A provider session ID in every ID token (`sid`, as Keycloak sends with "backchannel logout session
    required"): one per token here, which the tests read back from the token table."""
    import uuid
    id_token["sid"] = "op-" + uuid.uuid4().hex
    return id_token


urlpatterns = [
    path("accounts/login/", LoginView.as_view()),
    path("openid/", include("oidc_provider.urls", namespace="oidc_provider")),
]

app = get_wsgi_application()


def setup():
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from oidc_provider.models import Client, ResponseType, RSAKey
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    call_command("migrate", verbosity=0)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    RSAKey.objects.create(key=pem)
    User.objects.create_user("carol", "carol@example.com", "op-password-carol", first_name="Carol",
                             last_name="Jones")
    client = Client.objects.create(name="gatehouse", client_type="confidential", client_id="gatehouse-test",
                                   client_secret="gatehouse-test-secret", jwt_alg="RS256", require_consent=False,
                                   _redirect_uris=os.environ.get("OIDC_OP_REDIRECT", ""),
                                   _scope="openid email profile")
    client.response_types.add(ResponseType.objects.get(value="code"))


if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    setup()
