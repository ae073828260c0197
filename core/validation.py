from django.core.exceptions import ValidationError


def raise_violations(violations):
    """Raise one ValidationError keyed by field for a list of rule violations."""
    if not violations:
        return
    errors = {}
    for v in violations:
        errors.setdefault(v.field, []).append(ValidationError(v.message, code=v.code))
    raise ValidationError(errors)
