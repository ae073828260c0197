"""Access events (logins, logouts, failed logins) for the audit trail."""
