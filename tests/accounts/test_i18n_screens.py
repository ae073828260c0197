"""The accounts screens in French (issue 16): log in, password, two-factor, lockout, API tokens,
error pages; messages in the user's language."""

from html import unescape

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9"}


def _text(response):
    return unescape(response.content.decode())


def test_login_page_in_french(client):
    html = _text(client.get(reverse("accounts:login"), **FRENCH))
    assert "<title>Se connecter" in html
    assert "IgIV en première intention dans la polymyosite et la dermatomyosite de l'adulte" in html
    assert ">Se connecter</button>" in html


def test_login_page_in_english(client):
    html = _text(client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en"))
    assert ">Log in</button>" in html and "Se connecter" not in html


def test_security_and_password_pages_in_french(client_for, clinician):
    client = client_for(clinician)
    html = _text(client.get(reverse("accounts:security"), **FRENCH))
    assert "Mot de passe et authentification à deux facteurs" in html
    assert "Configurer l'authentification à deux facteurs" in html
    html = _text(client.get(reverse("accounts:password_change"), **FRENCH))
    assert "Changer votre mot de passe" in html and ">Annuler</a>" in html


def test_password_change_errors_in_french(client_for, clinician):
    response = client_for(clinician).post(reverse("accounts:password_change"), {
        "old_password": "correct horse battery", "new_password1": "correct horse battery",
        "new_password2": "correct horse battery"}, **FRENCH)
    html = _text(response)
    assert "Le nouveau mot de passe doit être différent de l'actuel." in html
    assert "Il y a 1 problème" in html


def test_stored_choice_gives_french_messages(client_for, clinician):
    client = client_for(clinician)
    client.post(reverse("accounts:set_language"), {"language": "fr", "next": reverse("accounts:security")})
    response = client.post(reverse("accounts:two_factor_remove"), {"code": "123456"}, follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    assert "L'authentification à deux facteurs n'est pas configurée pour votre compte." in _text(response)


def test_two_factor_setup_in_french(client_for, clinician):
    html = _text(client_for(clinician).get(reverse("accounts:two_factor_setup"), **FRENCH))
    assert "Scannez ce code :" in html
    assert 'alt="QR code de votre clé d\'authentification à deux facteurs"' in html
    assert "Code de votre application d'authentification" in html


def test_token_page_in_french(client_for, coordinator):
    client = client_for(coordinator)
    html = _text(client.get(reverse("api:token"), **FRENCH))
    assert "Vos jetons d'API" in html and "Vous n'avez aucun jeton." in html
    response = client.post(reverse("api:token"), {"action": "revoke_all"}, follow=True, **FRENCH)
    assert "Vous n'aviez aucun jeton." in _text(response)


def test_not_found_page_in_french(client_for, clinician):
    response = client_for(clinician).get("/no-such-page/", **FRENCH)
    assert response.status_code == 404
    html = _text(response)
    assert "Page introuvable" in html and "liste des patients" in html


def test_api_stays_english(client_for, clinician):
    response = client_for(clinician).get("/api/v1/patients/999999/", **FRENCH)
    assert response.status_code == 404
    assert response["Content-Language"] == "en"
