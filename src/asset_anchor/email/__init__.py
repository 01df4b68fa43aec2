"""Our emails: what each kind says and how it is rendered."""
