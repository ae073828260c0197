import factory
from django.contrib.auth.models import User

from accounts.models import Membership, Site


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"{n % 90 + 10:02d}")
    name = factory.LazyAttribute(lambda o: f"Site {o.code}")
    time_zone = "Europe/Paris"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = "clinician"
    site = factory.SubFactory(SiteFactory)
