"""The audit trail: every state change, in the same transaction as the change."""
