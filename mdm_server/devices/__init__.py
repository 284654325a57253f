"""The fleet: enrolled devices, their certificates, authentication, check-in and posture."""
