"""Files made by background jobs (jobs.files, jobs.views): progress, cancel, storage with
SHA-256, nothing partial kept, downloads only for whom the kind allows (404 otherwise),
expiry."""

import hashlib
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from jobs import files
from jobs.models import JobFile, JobFileStatus

pytestmark = pytest.mark.django_db

DOWNLOADS = []

files.register_kind(files.Kind(
    name="test-file",
    others_may=lambda user, job_file: user.username == "colleague",
    owner_may=lambda user, job_file: user.is_active and not user.username.endswith("-revoked"),
    on_download=lambda request, job_file: DOWNLOADS.append((request.user.username, job_file.pk)),
    retention=timedelta(hours=2),
))


def _chunks(n, progress, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise RuntimeError("the source went away")
        progress(i + 1, n)
        yield f"row {i}\n".encode()


def test_a_file_is_stored_with_its_hash_size_and_expiry(make_user, site_a):
    owner = make_user("coordinator")
    job_file = files.create(kind="test-file", owner=owner, label="A test file")
    result = files.produce(job_file.pk, lambda jf, progress: (_chunks(1000, progress), "t.txt", "text/plain"),
                           interval=0)
    job_file.refresh_from_db()
    expected = b"".join(f"row {i}\n".encode() for i in range(1000))
    assert job_file.status == JobFileStatus.DONE and result["sha256"] == job_file.sha256
    assert job_file.sha256 == hashlib.sha256(expected).hexdigest() and job_file.size == len(expected)
    assert (job_file.done, job_file.total, job_file.percent) == (1000, 1000, 100)
    assert default_storage.open(job_file.storage_name).read() == expected
    assert job_file.expires_at - job_file.finished_at == timedelta(hours=2)


def test_progress_is_written_while_the_job_runs_and_throttled(make_user):
    owner = make_user("coordinator")
    job_file = files.create(kind="test-file", owner=owner, label="progress")
    seen = []

    def producer(jf, progress):
        def chunks():
            for i in range(5):
                progress(i + 1, 5)
                seen.append(JobFile.objects.get(pk=jf.pk).done)
                yield b"x"
        return chunks(), "p.txt", "text/plain"

    files.produce(job_file.pk, producer, interval=0)
    assert seen == [1, 2, 3, 4, 5]  # every write visible at once (interval 0)
    throttled = files.Progress(job_file.pk, interval=3600)
    throttled(7, 9)
    throttled(8, 9)  # within the interval: not written
    assert JobFile.objects.get(pk=job_file.pk).done == 7


def test_a_cancelled_job_keeps_no_file(make_user):
    owner = make_user("coordinator")
    job_file = files.create(kind="test-file", owner=owner, label="cancelled")

    def producer(jf, progress):
        def chunks():
            for i in range(10):
                if i == 3:
                    files.request_cancel(JobFile.objects.get(pk=jf.pk))
                progress(i + 1, 10)
                yield b"x"
        return chunks(), "c.txt", "text/plain"

    assert files.produce(job_file.pk, producer, interval=0)["status"] == JobFileStatus.CANCELLED
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.CANCELLED and not job_file.storage_name
    assert not default_storage.exists(f"jobs/test-file/{job_file.pk}/c.txt")


def test_a_queued_job_cancelled_never_runs(make_user):
    job_file = files.create(kind="test-file", owner=make_user("coordinator"), label="q")
    assert files.request_cancel(job_file)
    ran = []
    assert files.produce(job_file.pk, lambda jf, p: ran.append(1))["skipped"]
    assert not ran and JobFile.objects.get(pk=job_file.pk).status == JobFileStatus.CANCELLED


def test_a_failed_job_shows_its_error_and_keeps_no_file(make_user):
    job_file = files.create(kind="test-file", owner=make_user("coordinator"), label="failing")
    with pytest.raises(RuntimeError):
        files.produce(job_file.pk, lambda jf, progress: (_chunks(10, progress, fail_at=4), "f.txt", "text/plain"))
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.FAILED and "the source went away" in job_file.error
    assert not job_file.storage_name and not default_storage.exists(f"jobs/test-file/{job_file.pk}/f.txt")


def test_downloads_only_for_the_owner_and_whom_the_kind_allows(client, make_user):
    owner = make_user("coordinator", username="owner")
    colleague = make_user("coordinator", username="colleague")
    stranger = make_user("coordinator", username="stranger")
    job_file = files.create(kind="test-file", owner=owner, label="mine")
    files.produce(job_file.pk, lambda jf, progress: (_chunks(3, progress), "mine.txt", "text/plain"))
    url = reverse("jobs:file_download", args=[job_file.pk])
    DOWNLOADS.clear()
    for user, status in ((owner, 200), (colleague, 200), (stranger, 404)):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == status, user
        assert client.get(reverse("jobs:file_status", args=[job_file.pk])).status_code == status
        if status == 200:
            assert b"".join(response.streaming_content) == b"row 0\nrow 1\nrow 2\n"
            assert response["Content-Disposition"].startswith('attachment; filename="mine.txt"')
    assert DOWNLOADS == [("owner", job_file.pk), ("colleague", job_file.pk)]
    owner.username = "owner-revoked"
    owner.save()
    client.force_login(owner)
    assert client.get(url).status_code == 404  # the owner lost the right: no download either
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_the_status_json_and_the_owners_cancel(client, make_user):
    owner = make_user("coordinator", username="owner")
    job_file = files.create(kind="test-file", owner=owner, label="to cancel", total=50)
    client.force_login(owner)
    state = client.get(reverse("jobs:file_status", args=[job_file.pk])).json()
    assert state["status"] == "queued" and state["total"] == 50 and state["cancel_url"]
    colleague = make_user("coordinator", username="colleague")
    client.force_login(colleague)  # may see it, may not cancel it
    assert client.post(state["cancel_url"], HTTP_ACCEPT="application/json").status_code == 404
    client.force_login(owner)
    answer = client.post(state["cancel_url"], HTTP_ACCEPT="application/json").json()
    assert answer["status"] == "cancelled" and not answer["active"]


@pytest.mark.req("URS-SEC-003")
def test_expired_files_are_deleted_and_the_row_kept(make_user):
    job_file = files.create(kind="test-file", owner=make_user("coordinator"), label="old")
    files.produce(job_file.pk, lambda jf, progress: (_chunks(2, progress), "old.txt", "text/plain"))
    job_file.refresh_from_db()
    assert files.expire(timezone.now()) == 0
    assert files.expire(job_file.expires_at + timedelta(seconds=1)) == 1
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.EXPIRED and job_file.sha256
    assert not default_storage.exists(job_file.storage_name)
    assert files.expire(job_file.expires_at + timedelta(days=1)) == 0  # idempotent
