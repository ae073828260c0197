"""The explicit hooks by which the writes reach this app (registered in
``NotificationsConfig.ready``); each enqueues a job inside the caller's
transaction, so the job commits (or rolls back) with the data it is about."""

from .models import Notice
from .rules import Kind


def after_change(instance, reason, user=None):
    """``core.services.after_change_hooks``: a serious adverse event stored (entered as
    serious, or become serious) gets its notices, at once, by a job. Other records,
    and a serious event whose report was notified already, cost nothing more."""
    from safety.models import AdverseEvent

    if not isinstance(instance, AdverseEvent) or not instance.serious or instance.voided_at is not None:
        return
    from . import services, tasks

    if Notice.objects.filter(kind=Kind.SAE, about_type=services.ADVERSE_EVENT, about_id=instance.pk,
                             stage=services.sae_stage(instance)).exists():
        return
    tasks.notify_sae.enqueue(instance.pk)


def after_query(event, query, message, user=None):
    """``review.services.query_hooks``: a question or an answer to notify."""
    from . import tasks

    tasks.notify_query.enqueue(message.pk)
