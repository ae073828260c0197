"""The edit checks' periodic job (enqueued once per slot by ``manage.py run_schedules``)."""

from jobs.schedules import daily

# At night, in the study's time zone: before the daily digest (07:00) and after the day's entry.
daily("editchecks.nightly", at="02:00", task="editchecks.tasks:run_nightly")
