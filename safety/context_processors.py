from .selectors import serious_awaiting_review_count


def sae_banner(request):
    """How many serious adverse events await expedited review (monitors and admins)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"sae_awaiting_review": serious_awaiting_review_count(user)}
