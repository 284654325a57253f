"""Staff accounts, roles, login, access and refresh tokens."""
