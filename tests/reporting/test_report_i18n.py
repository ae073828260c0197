"""The outcome report in French (issue 16): headings, response definitions and the tests'
names in French, numbers with decimal commas, dates dd/mm/yyyy, SVG coordinates unlocalized;
the English report unchanged."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from reporting.templatetags.report_format import mean_sd, num, p_value, proportion, signed
from reporting import statistics

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_the_report_in_french(client_for, coordinator, demo):
    html = client_for(coordinator).get(reverse("reporting:report"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Rapport des résultats" in html and "Amélioration biologique (baisse des CK &gt; 50 %)" in html
    assert "8/11 = 72,7 % (IC à 95 % 39,0–94,0)" in html  # decimal commas
    assert "test des rangs signés de Wilcoxon" in html
    assert re.search(r"Généré le \d{2}/\d{2}/\d{4} \d{2}:\d{2}\.", html)  # dd/mm/yyyy
    # SVG coordinates keep their points whatever the language.
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        assert not re.search(r'(?:x|y|x1|x2|y1|y2|width|height)="-?\d+,\d', svg), svg[:300]
    english = client_for(coordinator).get(reverse("reporting:report"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "8/11 = 72.7 % (95 % CI 39.0–94.0)" in english and "Outcome report" in english


def test_the_report_numbers_follow_the_language():
    summary = statistics.summarise([1, 2, 4])
    with translation.override("fr"):
        assert num(2.345, 2) == "2,35" or num(2.345, 2) == "2,34"
        assert signed(-40) == "-40,0" and mean_sd(summary) == "2,3 (1,5)"
        assert p_value(0.0261) == "p = 0,026" and p_value(0.0001) == "p < 0,001"
        assert proportion(statistics.proportion(1, 2)).startswith("1/2 = 50,0 % (IC à 95 %")
    with translation.override("en"):
        assert signed(-40) == "-40.0" and mean_sd(summary) == "2.3 (1.5)" and p_value(0.0261) == "p = 0.026"
