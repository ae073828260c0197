from .models import CTCAE_V5, MeddraTerm


def ctcae_terms():
    """The terms the adverse-event form offers (CTCAE v5.0, current)."""
    return MeddraTerm.objects.ctcae()


def term_by_llt_code(code: str):
    """The dictionary entry an LLT code names: the CTCAE term if it is one, else the
    latest loaded MedDRA release's current LLT; None if no dictionary holds it."""
    terms = MeddraTerm.objects.current().filter(llt_code=code)
    ctcae = [term for term in terms if term.source == CTCAE_V5]
    if ctcae:
        return ctcae[0]
    return max(terms, key=lambda term: _version_key(term.source), default=None)


def _version_key(source: str):
    number = source.rpartition(" ")[2]
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))
