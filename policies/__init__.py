"""The policy engine: policy documents, layering, compliance and appropriate use. Pure: it
decides and never acts, and imports only the standard library and pydantic."""
