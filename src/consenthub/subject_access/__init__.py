"""GDPR art. 15: everything the hub holds about a person or a party, for
``consenthub audit export``. Others use it through these names."""

from consenthub.subject_access.service import for_end_user, for_party

__all__ = ["for_end_user", "for_party"]
