"""Keys and cryptographic helpers: the key store, the device CA, secrets and passwords."""
