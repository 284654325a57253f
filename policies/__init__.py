"""The policy engine: policy documents, layering, compliance and appropriate use. Pure: it
decides and never acts, and imports only the standard library and pydantic."""

from policies.appropriate_use import Directory, Flag, Officer, Transaction, review
from policies.compliance import ActionDue, Evaluation, Finding, evaluate
from policies.document import SCHEMA_VERSION, PolicyDocument, json_schema
from policies.errors import PolicyError, parse_policy
from policies.layering import Layer, Provenance, ResolvedPolicy, resolve
from policies.posture import DevicePosture

__all__ = [
    "SCHEMA_VERSION",
    "ActionDue",
    "DevicePosture",
    "Directory",
    "Evaluation",
    "Finding",
    "Flag",
    "Layer",
    "Officer",
    "PolicyDocument",
    "PolicyError",
    "Provenance",
    "ResolvedPolicy",
    "Transaction",
    "evaluate",
    "json_schema",
    "parse_policy",
    "resolve",
    "review",
]
