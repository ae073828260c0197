from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponsePermanentRedirect
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog
from django.templatetags.static import static
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import FormView
from django.views.generic.edit import ModelFormMixin, ProcessFormView
from django.views.generic.detail import SingleObjectTemplateResponseMixin

from accounts import languages
from accounts.mixins import PermissionRequiredMixin

from .forms import VoidForm, add_validation_error
from .selectors import review_state
from .services import StaleRecordError, record_void


def lock_message(record):
    """Why the record cannot be changed because of a lock, or None."""
    try:
        record.check_not_locked()
    except ValidationError as exc:
        return exc.messages[0]
    return None


class RecordFormView(PermissionRequiredMixin, SingleObjectTemplateResponseMixin, ModelFormMixin,
                     ProcessFormView):
    """Create or edit one clinical record through a ClinicalRecordForm.

    Subclasses give ``model``, ``form_class``, ``permission_required`` and
    ``get_object()`` (scoped by a selector; return None to create).
    Permission is checked before the object is looked up, so a read-only
    role gets 403 and another site's record 404.
    """

    template_name = "core/record_form.html"
    raise_exception = True
    title = ""
    success_message = gettext_lazy("Saved.")

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self._refuse() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self._refuse() or super().post(request, *args, **kwargs)

    def refusal(self):
        """A message when this record may not be edited now (voided, locked...)."""
        if getattr(self.object, "voided_at", None):  # every voidable record (core.services.record_void)
            return _("A voided entry cannot be edited.")
        return lock_message(self.object)

    def _refuse(self):
        message = self.refusal() if self.object is not None else None
        if message:
            messages.error(self.request, message)
            return redirect(self.get_success_url())
        return None

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def form_valid(self, form):
        saved = form.save_or_report_conflict()
        if saved is None:  # a race lost at save time: the page keeps the record it showed
            return self.form_invalid(form)
        self.object = saved
        messages.success(self.request, self.success_message)
        return redirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.get_title()
        context["cancel_url"] = self.get_cancel_url()
        patient = self.object.patient_record() if self.object is not None else None
        if patient is not None:
            # The record's review state: its open queries beside the fields, and what saving
            # a change will invalidate (review/templatetags/review_fields.py).
            context.update(review=review_state(patient), review_record=self.object)
        return context

    def get_title(self):
        return self.title

    def get_cancel_url(self):
        return self.get_success_url()


class ActionFormView(PermissionRequiredMixin, FormView):
    """A confirmation form that calls one service (withdraw, void...).

    ``perform(form)`` calls the service; a ValidationError lands on the form
    field by field, a stale version as a form-wide conflict message.
    """

    template_name = "core/record_form.html"
    raise_exception = True
    title = ""
    success_message = gettext_lazy("Done.")

    def dispatch(self, request, *args, **kwargs):
        if not self.has_permission():
            return self.handle_no_permission()
        self.object = self.get_object()
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"expected_version": self.object.version}

    def form_valid(self, form):
        try:
            self.perform(form)
        except ValidationError as exc:
            add_validation_error(form, exc)
            return self.form_invalid(form)
        except StaleRecordError:
            form.add_error(None, ValidationError(
                _("Someone else saved this record after you opened it; nothing was changed. "
                "Reload the page and try again."), code="stale"))
            return self.form_invalid(form)
        messages.success(self.request, self.success_message)
        return redirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        context["object"] = self.object
        context["cancel_url"] = self.get_success_url()
        return context


class VoidView(ActionFormView):
    """Void one record (``get_object`` scoped by the subclass) through ``record_void``."""

    form_class = VoidForm

    def perform(self, form):
        record_void(instance=self.object, reason=form.cleaned_data["void_reason"],
                    expected_version=form.cleaned_data["expected_version"], user=self.request.user)


@login_not_required
def favicon(request):
    """``/favicon.ico``, which browsers ask for on their own: the site's icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


@login_not_required
@cache_control(public=True, max_age=3600)
def javascript_catalog(request, language):
    """The scripts' translations (``locale/<lang>/LC_MESSAGES/djangojs.po``) for one
    language, served by the app itself (no CDN, no inline script). The language is in
    the address, so a browser's cached catalogue is never the other language's."""
    code = languages.supported(language)
    if code is None or code != language:
        raise Http404(_("No such language."))
    with translation.override(code):
        return JavaScriptCatalog.as_view()(request)
