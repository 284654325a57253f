"""The app catalogue: APKs, their versions and signers, and where their bytes are kept."""
