"""The notifications' periodic jobs (enqueued once per slot by ``manage.py run_schedules``)."""

from jobs.schedules import daily, every

every("notifications.sae_clocks", minutes=5, task="notifications.tasks:check_sae_clocks")
daily("notifications.digest", at="07:00", task="notifications.tasks:send_digests")
