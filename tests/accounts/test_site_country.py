"""A site's country (ISO 3166-1 alpha-3): validated, defaulted, in the admin and the API."""

import importlib

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.countries import ALPHA3
from accounts.models import Site

from .factories import SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_code_list_is_iso_3166_alpha3():
    assert len(ALPHA3) == 249
    assert {"FRA", "DEU", "GBR", "USA", "JPN"} <= ALPHA3
    assert all(len(code) == 3 and code.isupper() for code in ALPHA3)


def test_a_new_site_gets_the_study_default_country(settings):
    settings.STUDY_DEFAULT_COUNTRY = "BEL"
    assert Site(code="55", name="Brussels").country == "BEL"
    settings.STUDY_DEFAULT_COUNTRY = "FRA"
    assert Site(code="56", name="Lyon").country == "FRA"


@pytest.mark.parametrize("value", ["FR", "fra", "FRANCE", "XXX", ""])
def test_a_country_that_is_not_alpha3_is_refused_with_a_field_error(value):
    site = Site(code="57", name="Somewhere", country=value)
    with pytest.raises(ValidationError) as caught:
        site.full_clean()
    assert "country" in caught.value.message_dict


def test_the_existing_sites_got_the_default_in_the_migration():
    migration = importlib.import_module("accounts.migrations.0011_hs_site_country")
    fields = {op.name: op.field for op in migration.Migration.operations}
    assert fields["country"].default.__name__ == "default_country"
    assert SiteFactory().country == "FRA"


def test_an_admin_edits_the_country_and_history_keeps_it(client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    site = SiteFactory(code="58", name="Berlin")
    client.force_login(admin)
    url = reverse("admin:accounts_site_change", args=[site.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="country"' in page.content.decode()
    bad = client.post(url, {"code": "58", "name": "Berlin", "time_zone": "Europe/Berlin", "country": "GER"})
    assert bad.status_code == 200 and "ISO 3166-1 alpha-3" in bad.content.decode()
    good = client.post(url, {"code": "58", "name": "Berlin", "time_zone": "Europe/Berlin", "country": "DEU"})
    assert good.status_code == 302
    site.refresh_from_db()
    assert site.country == "DEU"
    assert list(site.history.values_list("country", flat=True))[:2] == ["DEU", "FRA"]
    listing = client.get(reverse("admin:accounts_site_changelist"))
    assert "DEU" in listing.content.decode()
