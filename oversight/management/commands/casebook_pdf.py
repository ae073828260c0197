"""``manage.py casebook_pdf --patient 01-001 --output casebook.pdf``: one patient's casebook
as a PDF (the same as the casebook page's button makes), its SHA-256 in the audit trail."""

import hashlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from oversight.casebook_pdf import casebook_pdf_render
from oversight.models import AccessEvent, AccessKind
from patients.models import Patient


class Command(BaseCommand):
    help = "Write one patient's casebook as a PDF."

    def add_arguments(self, parser):
        parser.add_argument("--patient", required=True, help="The subject id, e.g. 01-001.")
        parser.add_argument("--output", required=True, help="The PDF file to write.")
        parser.add_argument("--language", default=None, help="The PDF's language (en, fr); default: the study's.")

    def handle(self, *args, patient, output, language=None, **options):
        found = Patient.objects.with_related().filter(subject_id=patient).first()
        if found is None:
            raise CommandError(f"No patient {patient!r}.")
        pdf = casebook_pdf_render(found, language=language)
        Path(output).write_bytes(pdf.content)
        digest = hashlib.sha256(pdf.content).hexdigest()
        AccessEvent.objects.record(kind=AccessKind.CASEBOOK_PDF, username="command line", detail={
            "patient": found.pk, "subject_id": found.subject_id, "file_name": Path(output).name,
            "sha256": digest, "bytes": len(pdf.content), "pages": pdf.pages})
        self.stdout.write(f"{output}: {pdf.pages} pages, {len(pdf.content)} bytes, SHA-256 {digest}")
