"""Evidential bundles (docs/audit.md): a zip a third party checks with nothing but the bundle.

Members, in this order, stored uncompressed with fixed times so the zip's bytes follow from its
contents alone (`verify` rebuilds it and compares byte for byte, so no byte anywhere can change
unnoticed):
- `README.txt`: for the recipient: what this is and how to check it, with or without Tabard;
- `manifest.json`: the query, who exported it and when, the sizes, the event count;
- `verifier-key.txt`: the log's note verifier key;
- `checkpoint.note`: the earliest checkpoint covering every event in the bundle;
- `latest.note`: the newest checkpoint at export time;
- `consistency.json`: the RFC 9162 proof that the first is a prefix of the second;
- `events.jsonl`: per line `{"seq", "canonical" (base64 leaf bytes), "inclusion" (base64 audit
  path in checkpoint.note's tree)}`;
- `bundle.note`: a signed note, by the log's key, listing the SHA-256 of every other member.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mdm_server.audit import handover, merkle
from mdm_server.audit.merkle import ProofError
from mdm_server.audit.notes import Checkpoint, NoteError, NoteSigner, NoteVerifier
from mdm_server.audit.zipstream import Comparison, chunks, opened

FORMAT = "tabard-audit-bundle/1"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MEMBERS = (
    "README.txt",
    "manifest.json",
    "verifier-key.txt",
    "checkpoint.note",
    "latest.note",
    "consistency.json",
    "events.jsonl",
)
SEAL = "bundle.note"

# What `verify` will read, checked against the zip's directory before any member is opened.
# A genuine bundle's members are stored, never compressed, so nothing is inflated at all; these
# bound the bytes read. Measured (bench/bundle.py): events.jsonl takes 1,654 bytes an event at
# a million events (a 20-hash inclusion proof each), 1.65 GB in all; no other member passes a
# few KB whatever the bundle holds.
MAX_EVENTS_BYTES = 4 << 30
MAX_OTHER_BYTES = 1 << 20
MAX_TOTAL_BYTES = MAX_EVENTS_BYTES + len(MEMBERS) * MAX_OTHER_BYTES
MAX_LINE_BYTES = 1 << 20  # one line of events.jsonl: an event and its proof

README = """Tabard audit evidence bundle
============================

This bundle holds audit events from a Tabard audit log, with the proof that each one is in
the log exactly as shown, and that the log was not rewritten afterwards.

Check it with:  tabard audit verify-bundle BUNDLE.zip [--verifier-key KEY]
and compare the verifier key it prints with the key the force publishes.

To check it without Tabard:
1. verifier-key.txt is a C2SP signed-note verifier key (name+keyid+base64 of 0x01 and an
   Ed25519 public key). checkpoint.note, latest.note and bundle.note must carry a valid
   signature by it (c2sp.org/signed-note); the checkpoints follow c2sp.org/tlog-checkpoint.
2. bundle.note lists the SHA-256 of every other file here; each must match.
3. Each line of events.jsonl: base64-decode "canonical" (the event's canonical JSON,
   described in the Tabard documentation), hash it as SHA-256(0x00 || bytes), and check
   "inclusion" as an RFC 9162 inclusion proof for leaf index seq - 1 against the size and root
   of checkpoint.note.
4. consistency.json is an RFC 9162 consistency proof from checkpoint.note's tree to
   latest.note's tree.
"""


class BundleError(ValueError):
    """The bundle does not verify; the message says where."""


@dataclass
class Contents:
    """What goes into a bundle."""

    query: dict[str, Any]
    exported_by: str
    exported_at: str
    checkpoint_note: str
    latest_note: str
    consistency: list[bytes]
    events: list[tuple[int, bytes, list[bytes]]]  # seq, canonical bytes, inclusion proof


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode("ascii") for value in values]


def _member_info(name: str) -> zipfile.ZipInfo:
    """A member's entry: stored, fixed time and mode, so the zip follows from its contents."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(_member_info(name), data)
    return buffer.getvalue()


def _seal_of(digests: dict[str, str]) -> str:
    lines = [FORMAT] + [f"{digests[name]} {name}" for name in MEMBERS]
    return "".join(f"{line}\n" for line in lines)


def _seal_text(files: dict[str, bytes]) -> str:
    return _seal_of({name: hashlib.sha256(files[name]).hexdigest() for name in MEMBERS})


def build(contents: Contents, *, signer: NoteSigner) -> bytes:
    checkpoint = signer.verifier().open(contents.checkpoint_note)
    latest = signer.verifier().open(contents.latest_note)
    manifest = {
        "format": FORMAT,
        "query": contents.query,
        "exported_by": contents.exported_by,
        "exported_at": contents.exported_at,
        "origin": signer.name,
        "checkpoint_size": checkpoint.size,
        "latest_size": latest.size,
        "events": len(contents.events),
    }
    events = "".join(
        json.dumps(
            {"seq": seq, "canonical": _b64([data])[0], "inclusion": _b64(proof)},
            separators=(",", ":"),
        )
        + "\n"
        for seq, data, proof in contents.events
    )
    files = {
        "README.txt": README.encode(),
        "manifest.json": (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
        "verifier-key.txt": (signer.verifier_key() + "\n").encode(),
        "checkpoint.note": contents.checkpoint_note.encode(),
        "latest.note": contents.latest_note.encode(),
        "consistency.json": json.dumps(
            {"from": checkpoint.size, "to": latest.size, "proof": _b64(contents.consistency)}
        ).encode(),
        "events.jsonl": events.encode(),
    }
    seal = signer.sign_text(_seal_text(files))
    return _zip({**files, SEAL: seal.encode()})


@dataclass
class Verified:
    verifier_key: str
    origin: str
    checkpoint_size: int
    latest_size: int
    events: int
    query: dict[str, Any] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)
    handed_over_to: list[str] = field(default_factory=list)  # keys since, to the one given


def _check_directory(archive: zipfile.ZipFile) -> None:
    """Refuse, from the zip's directory alone, a bundle that would take more than a genuine
    one to read: other members, a compressed member, or members larger than any bundle holds."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if names != [*MEMBERS, SEAL]:
        raise BundleError(
            f"the bundle holds {', '.join(names) or 'nothing'}; {FORMAT} holds "
            f"{', '.join([*MEMBERS, SEAL])}, in that order"
        )
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise BundleError(
                f"{info.filename} is compressed; Tabard stores every member of a bundle as it "
                "is, so this zip was made by something else (refused without inflating it)"
            )
        limit = MAX_EVENTS_BYTES if info.filename == "events.jsonl" else MAX_OTHER_BYTES
        if info.file_size > limit:
            raise BundleError(
                f"{info.filename} says it holds {info.file_size:,} bytes; a bundle's "
                f"{info.filename} holds at most {limit:,} (refused without reading it)"
            )
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise BundleError(f"the members add up to {total:,} bytes; at most {MAX_TOTAL_BYTES:,}")


def _digests_of_canonical(archive: zipfile.ZipFile, original: IO[bytes]) -> dict[str, str]:
    """Each member's SHA-256, read once; and proof the zip's bytes are exactly those its
    contents give (rebuilt as `build` writes it, compared as it goes, held nowhere)."""
    digests: dict[str, str] = {}
    comparison = Comparison(original)
    with zipfile.ZipFile(comparison, "w", compression=zipfile.ZIP_STORED) as rebuilt:
        for info in archive.infolist():
            digest = hashlib.sha256()
            entry = _member_info(info.filename)
            entry.file_size = info.file_size  # as writestr sets it: decides zip64
            with rebuilt.open(entry, "w") as out:
                for chunk in chunks(archive, info.filename):
                    digest.update(chunk)
                    out.write(chunk)
            digests[info.filename] = digest.hexdigest()
    if not comparison.same_as_original():
        raise BundleError("the zip's bytes are not those its contents give: it was altered")
    return digests


def _small(archive: zipfile.ZipFile, name: str) -> bytes:
    return b"".join(chunks(archive, name))


def verify(
    source: bytes | Path,
    *,
    verifier_key: str | None = None,
    key_changes: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verified:
    """Check a bundle (its bytes, or a file read as a stream); BundleError names the first
    thing wrong. Memory stays small whatever the bundle holds: events are read line by line.
    A bundle signed before the checkpoint key changed carries the earlier key: it is taken for
    `verifier_key` if the log's `key_changes` (their notes) lead from the one to the other."""
    try:
        with opened(source) as (archive, original):
            return _verify(archive, original, verifier_key, key_changes or [], progress)
    except BundleError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,  # a damaged header can name a zip version or method we lack
        RuntimeError,  # or mark an entry encrypted
        ValueError,
        EOFError,
    ) as exc:
        raise BundleError(f"not a readable zip: {exc}") from None


def _verify(
    archive: zipfile.ZipFile,
    original: IO[bytes],
    verifier_key: str | None,
    key_changes: list[str],
    progress: Callable[[int], None] | None,
) -> Verified:
    _check_directory(archive)
    digests = _digests_of_canonical(archive, original)
    files = {name: _small(archive, name) for name in (*MEMBERS, SEAL) if name != "events.jsonl"}
    key = _text(files, "verifier-key.txt").strip()
    handed_over: list[str] = []
    if verifier_key is not None and verifier_key.strip() != key:
        if not key_changes:
            raise BundleError(
                "the bundle was signed with another key than the one you gave; if the log's "
                "key changed since, give its key changes (GET /api/v1/audit/key-changes)"
            )
        try:
            links = handover.follow(key, key_changes, to=verifier_key)
        except NoteError as exc:
            raise BundleError(f"the bundle's key does not lead to the one given: {exc}") from None
        handed_over = [link.new_key for link in links]
    try:
        verifier = NoteVerifier.parse(key)
        seal = verifier.verify(_text(files, SEAL))
        checkpoint = verifier.open(_text(files, "checkpoint.note"), origin=verifier.name)
        latest = verifier.open(_text(files, "latest.note"), origin=verifier.name)
    except NoteError as exc:
        raise BundleError(f"a signature does not verify: {exc}") from None
    if not hmac.compare_digest(seal, _seal_of(digests)):
        raise BundleError("a file's SHA-256 differs from the signed list in bundle.note")
    _check_consistency(_json(files, "consistency.json"), checkpoint, latest)
    manifest = _json(files, "manifest.json")
    if not isinstance(manifest, dict):
        raise BundleError("manifest.json is not a JSON object")
    with archive.open("events.jsonl") as events:
        seqs = _check_events(events, checkpoint, progress)
    if manifest.get("events") != len(seqs):
        raise BundleError(
            f"the manifest counts {manifest.get('events')} events; there are {len(seqs)}"
        )
    return Verified(
        verifier_key=key,
        origin=verifier.name,
        checkpoint_size=checkpoint.size,
        latest_size=latest.size,
        events=len(seqs),
        query=manifest.get("query") or {},
        seqs=seqs,
        handed_over_to=handed_over,
    )


def _text(files: dict[str, bytes], name: str) -> str:
    try:
        return files[name].decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{name} is not UTF-8 text") from None


def _json(files: dict[str, bytes], name: str) -> Any:
    try:
        return json.loads(files[name])
    except ValueError:
        raise BundleError(f"{name} is not JSON") from None


def _decode(values: Any, where: str) -> list[bytes]:
    if not isinstance(values, list):
        raise BundleError(f"{where}: a proof is a list of base64 hashes")
    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (TypeError, ValueError):
        raise BundleError(f"{where}: a proof hash is not base64") from None


def _check_consistency(body: Any, checkpoint: Checkpoint, latest: Checkpoint) -> None:
    if not isinstance(body, dict) or (body.get("from"), body.get("to")) != (
        checkpoint.size,
        latest.size,
    ):
        raise BundleError("consistency.json is not from checkpoint.note to latest.note")
    try:
        merkle.verify_consistency(
            checkpoint.size,
            latest.size,
            checkpoint.root,
            latest.root,
            _decode(body.get("proof"), "consistency.json"),
        )
    except ProofError as exc:
        raise BundleError(f"the later checkpoint does not extend the earlier one: {exc}") from None


def _lines(events: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """events.jsonl's lines, numbered from 1, none longer than MAX_LINE_BYTES."""
    number = 0
    while line := events.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise BundleError(
                f"events.jsonl line {number} runs past {MAX_LINE_BYTES:,} bytes; an event and "
                "its proof take a few KB (refused without reading the rest)"
            )
        yield number, line.rstrip(b"\n")


def _check_events(
    events: IO[bytes], checkpoint: Checkpoint, progress: Callable[[int], None] | None
) -> list[int]:
    seqs: list[int] = []
    for number, line in _lines(events):
        try:
            entry = json.loads(line)
            seq = entry["seq"]
            canonical = base64.b64decode(entry["canonical"], validate=True)
            document = json.loads(canonical)
        except (ValueError, KeyError, TypeError):
            raise BundleError(f"events.jsonl line {number} is not an event entry") from None
        if not isinstance(seq, int) or not isinstance(document, dict) or document.get("seq") != seq:
            raise BundleError(f"events.jsonl line {number}: seq {seq} is not the event's own")
        if seqs and seq <= seqs[-1]:
            raise BundleError(f"events.jsonl line {number}: events out of order at seq {seq}")
        try:
            merkle.verify_inclusion(
                seq - 1,
                checkpoint.size,
                merkle.leaf_hash(canonical),
                _decode(entry.get("inclusion"), f"event {seq}"),
                checkpoint.root,
            )
        except ProofError as exc:
            raise BundleError(f"event {seq} is not proven in the checkpoint: {exc}") from None
        seqs.append(seq)
        if progress is not None:
            progress(len(seqs))
    return seqs
