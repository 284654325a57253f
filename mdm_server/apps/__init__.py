"""The app catalogue: uploaded APKs, what they are and who signed them, their releases,
and their delivery to devices."""
