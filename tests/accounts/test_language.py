"""The language a person sees (issue 16): their stored choice, else the browser's."""

import pytest
from django.urls import reverse

from accounts.models import Profile
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}


def test_browser_language_decides_without_a_choice(client):
    page = client.get(reverse("accounts:login"), **FRENCH)
    html = page.content.decode()
    assert page["Content-Language"] == "fr"
    assert '<html lang="fr">' in html
    assert "Aller au contenu principal" in html
    assert "/jsi18n/fr/" in html
    english = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert english["Content-Language"] == "en"
    assert "Skip to main content" in english.content.decode()


def test_the_switch_on_the_login_page_sets_the_cookie(client):
    response = client.post(reverse("accounts:set_language"), {"language": "en", "next": "/accounts/login/"},
                           **FRENCH)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert response.cookies["django_language"].value == "en"
    assert "Skip to main content" in client.get(reverse("accounts:login"), **FRENCH).content.decode()


def test_switch_refuses_an_unknown_language_and_a_foreign_next(client):
    response = client.post(reverse("accounts:set_language"), {"language": "xx", "next": "/patients/"})
    assert response.status_code == 400 and b"language:" in response.content
    assert "django_language" not in response.cookies
    response = client.post(reverse("accounts:set_language"), {"language": "fr", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")


@pytest.mark.req("URS-USR-001")
def test_stored_choice_wins_over_the_browser_and_follows_login(client, site_a):
    user = UserFactory(username="infirmiere")
    MembershipFactory(user=user, role="clinician", site=site_a)
    Profile.objects.create(user=user, language="fr")
    client.post(reverse("accounts:login"), {"username": "infirmiere", "password": "correct horse battery"},
                HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("patients:patient_list"), HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "fr"
    # the navbar offers the other language, in its own name
    assert 'value="en" lang="en"' in page.content.decode()


def test_the_navbar_switch_stores_the_choice_on_the_profile(client_for, clinician):
    client = client_for(clinician)
    response = client.post(reverse("accounts:set_language"),
                           {"language": "fr", "next": reverse("patients:patient_list")})
    assert response.status_code == 302
    assert Profile.objects.get(user=clinician).language == "fr"
    assert client.get(reverse("patients:patient_list"))["Content-Language"] == "fr"


def test_profile_page_saves_the_language_with_history(client_for, clinician):
    client = client_for(clinician)
    page = client.get(reverse("accounts:profile"))
    assert page.status_code == 200 and clinician.username in page.content.decode()
    response = client.post(reverse("accounts:profile"), {"language": "fr"})
    assert response.status_code == 302
    profile = Profile.objects.get(user=clinician)
    assert profile.language == "fr" and profile.history.count() == 1
    follow = client.get(reverse("accounts:profile"))
    assert "Votre langue est enregistrée" in follow.content.decode()
    # back to the browser's language
    client.post(reverse("accounts:profile"), {"language": ""})
    assert Profile.objects.get(user=clinician).language == ""
    assert client.get(reverse("accounts:profile"), HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "en"


def test_profile_refuses_an_unknown_language_with_a_field_error(client_for, clinician):
    response = client_for(clinician).post(reverse("accounts:profile"), {"language": "de"})
    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    assert not Profile.objects.filter(user=clinician, language="de").exists()


def test_javascript_catalogue_is_served_per_language_without_login(client):
    response = client.get("/jsi18n/fr/")
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert "max-age=3600" in response["Cache-Control"]
    assert client.get("/jsi18n/de/").status_code == 404
    assert client.get("/jsi18n/fr-FR/").status_code == 404


@pytest.mark.req("URS-USR-001")
def test_french_forms_accept_dd_mm_yyyy_and_decimal_commas():
    from django import forms
    from django.utils import translation

    from core.forms import DateInput, FiniteDecimalField

    class Form(forms.Form):
        day = forms.DateField(widget=DateInput())
        weight = FiniteDecimalField(max_digits=5, decimal_places=1)

    with translation.override("fr"):
        form = Form({"day": "02/12/2026", "weight": "72,5"})
        assert form.is_valid(), form.errors
        assert str(form.cleaned_data["weight"]) == "72.5"
        assert form.cleaned_data["day"].isoformat() == "2026-12-02"
        bound = Form(initial={"day": form.cleaned_data["day"], "weight": form.cleaned_data["weight"]})
        html = str(bound["day"]) + str(bound["weight"])
        assert 'value="02/12/2026"' in html and 'value="72,5"' in html and 'placeholder="JJ/MM/AAAA"' in html
        assert 'inputmode="decimal"' in html and 'type="number"' not in html
        assert Form({"day": "2026-12-02", "weight": "1234,5"}).is_valid()
        assert not Form({"day": "12/31/2026", "weight": "1 234,5"}).is_valid()
    with translation.override("en"):
        form = Form({"day": "02/12/2026", "weight": "72,5"})
        assert set(form.errors) == {"day", "weight"}
        assert Form({"day": "2026-12-02", "weight": "72.5"}).is_valid()


def test_the_rest_api_is_language_neutral(client_for, clinician):
    from accounts import languages

    languages.choose(clinician, "fr")
    client = client_for(clinician)
    response = client.get("/api/v1/patients/", **FRENCH)
    assert response["Content-Language"] == "en"


def test_stored_choice_reads_a_selected_profile_without_a_query(clinician, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    from accounts import languages

    languages.choose(clinician, "fr")
    user = get_user_model().objects.select_related("profile").get(pk=clinician.pk)
    with django_assert_num_queries(0):
        assert languages.language_of(user) == "fr"
