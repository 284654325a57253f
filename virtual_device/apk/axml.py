"""Android binary XML (AXML), the compiled form of AndroidManifest.xml in every real APK.

The layout follows AOSP `frameworks/base/libs/androidfw/include/androidfw/ResourceTypes.h`
(`ResChunk_header`, `ResStringPool_header`, `ResXMLTree_node`, `ResXMLTree_attrExt`,
`ResXMLTree_attribute`, `Res_value`). Android finds its own attributes by resource id (the
resource map), never by name, so `parse` reports an attribute that carries an id under the
name the id stands for."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

ANDROID_NS = "http://schemas.android.com/apk/res/android"

RES_STRING_POOL_TYPE = 0x0001
RES_XML_TYPE = 0x0003
RES_XML_START_NAMESPACE_TYPE = 0x0100
RES_XML_END_NAMESPACE_TYPE = 0x0101
RES_XML_START_ELEMENT_TYPE = 0x0102
RES_XML_END_ELEMENT_TYPE = 0x0103
RES_XML_RESOURCE_MAP_TYPE = 0x0180
UTF8_FLAG = 0x100
NO_INDEX = 0xFFFFFFFF

TYPE_REFERENCE = 0x01
TYPE_STRING = 0x03
TYPE_INT_DEC = 0x10
TYPE_INT_HEX = 0x11
TYPE_INT_BOOLEAN = 0x12

# android.R.attr ids (AOSP frameworks/base/core/res/res/values/public.xml).
ATTRIBUTE_IDS = {
    "name": 0x01010003,
    "permission": 0x01010006,
    "debuggable": 0x0101000F,
    "minSdkVersion": 0x0101020C,
    "versionCode": 0x0101021B,
    "versionName": 0x0101021C,
    "targetSdkVersion": 0x01010270,
}
ATTRIBUTE_NAMES = {value: key for key, value in ATTRIBUTE_IDS.items()}


class AxmlError(ValueError):
    """The bytes are not well-formed Android binary XML."""


@dataclass(frozen=True)
class Attribute:
    """One attribute: `android` says it is one of Android's own (found by resource id)."""

    name: str
    value: str | int
    android: bool = True


@dataclass
class Element:
    """An element of a compiled document, with its attributes and children."""

    tag: str
    attributes: tuple[Attribute, ...] = ()
    children: list[Element] = field(default_factory=list)

    def get(self, name: str, *, android: bool = True) -> str | int | None:
        """The value of an attribute, Android's own by default, or None."""
        for attribute in self.attributes:
            if attribute.name == name and attribute.android == android:
                return attribute.value
        return None

    def iter(self, tag: str) -> list[Element]:
        """Every element below this one (and itself) with this tag, in document order."""
        found = [self] if self.tag == tag else []
        for child in self.children:
            found.extend(child.iter(tag))
        return found


# --- writing -------------------------------------------------------------------------------


class _Pool:
    """A string pool that hands out indexes; the attribute names with resource ids go first,
    in the order of the resource map."""

    def __init__(self, resource_names: Sequence[str]) -> None:
        self.strings: list[str] = []
        self.index: dict[str, int] = {}
        for name in resource_names:
            self.add(name)

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def encode(self, *, utf8: bool) -> bytes:
        offsets, data = [], bytearray()
        for text in self.strings:
            offsets.append(len(data))
            data += _encode_string(text, utf8=utf8)
        data += b"\0" * (-len(data) % 4)
        header_size = 28
        strings_start = header_size + 4 * len(offsets)
        body = struct.pack(f"<{len(offsets)}I", *offsets) + bytes(data)
        header = struct.pack(
            "<HHIIIIII",
            RES_STRING_POOL_TYPE,
            header_size,
            header_size + len(body),
            len(self.strings),
            0,
            UTF8_FLAG if utf8 else 0,
            strings_start,
            0,
        )
        return header + body


def _encode_length(value: int, *, wide: bool) -> bytes:
    if wide:
        return struct.pack("<H", value) if value < 0x8000 else struct.pack(">I", value | 1 << 31)
    return bytes([value]) if value < 0x80 else struct.pack(">H", value | 0x8000)


def _encode_string(text: str, *, utf8: bool) -> bytes:
    if utf8:
        raw = text.encode()
        units = len(text.encode("utf-16-le")) // 2
        return (
            _encode_length(units, wide=False) + _encode_length(len(raw), wide=False) + raw + b"\0"
        )
    raw = text.encode("utf-16-le")
    wide_length = _encode_length(len(raw) // 2, wide=True)
    if len(wide_length) == 4:  # the high word comes first, each word little-endian
        wide_length = struct.pack("<HH", *struct.unpack(">HH", wide_length))
    return wide_length + raw + b"\0\0"


@dataclass(frozen=True)
class Node:
    """An element to compile: android attributes by name (str or int), others plain."""

    tag: str
    android: tuple[tuple[str, str | int], ...] = ()
    plain: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = ()


def compile_document(root: Node, *, utf8: bool = False) -> bytes:
    """`root` as Android binary XML, with the android namespace declared on it."""
    used: list[str] = []
    _collect_android_names(root, used)
    resource_names = sorted(set(used), key=lambda name: ATTRIBUTE_IDS[name])
    pool = _Pool(resource_names)
    ns_prefix, ns_uri = pool.add("android"), pool.add(ANDROID_NS)
    body = bytearray(_node(RES_XML_START_NAMESPACE_TYPE, ns_prefix, ns_uri))
    _compile_element(root, pool, ns_uri, body)
    body += _node(RES_XML_END_NAMESPACE_TYPE, ns_prefix, ns_uri)
    ids = [ATTRIBUTE_IDS[name] for name in resource_names]
    resource_map = struct.pack(
        f"<HHI{len(ids)}I", RES_XML_RESOURCE_MAP_TYPE, 8, 8 + 4 * len(ids), *ids
    )
    content = pool.encode(utf8=utf8) + resource_map + bytes(body)
    return struct.pack("<HHI", RES_XML_TYPE, 8, 8 + len(content)) + content


def _collect_android_names(node: Node, into: list[str]) -> None:
    into.extend(name for name, _ in node.android)
    for child in node.children:
        _collect_android_names(child, into)


def _node(kind: int, first: int, second: int) -> bytes:
    """A namespace or end-element node: line 1, no comment, then two string indexes."""
    return struct.pack("<HHIIIII", kind, 16, 24, 1, NO_INDEX, first, second)


def _compile_element(node: Node, pool: _Pool, ns_uri: int, out: bytearray) -> None:
    attributes: list[tuple[int, bytes]] = []
    for name, value in node.android:
        attributes.append((ATTRIBUTE_IDS[name], _attribute(pool, ns_uri, pool.add(name), value)))
    for name, text in node.plain:
        attributes.append((0, _attribute(pool, NO_INDEX, pool.add(name), text)))
    attributes.sort(key=lambda pair: pair[0])  # Android looks attributes up in id order
    tag = pool.add(node.tag)
    ext = struct.pack("<IIHHHHHH", NO_INDEX, tag, 20, 20, len(attributes), 0, 0, 0)
    payload = ext + b"".join(raw for _, raw in attributes)
    out += struct.pack("<HHIII", RES_XML_START_ELEMENT_TYPE, 16, 16 + len(payload), 1, NO_INDEX)
    out += payload
    for child in node.children:
        _compile_element(child, pool, ns_uri, out)
    out += _node(RES_XML_END_ELEMENT_TYPE, NO_INDEX, tag)


def _attribute(pool: _Pool, ns: int, name: int, value: str | int) -> bytes:
    if isinstance(value, bool):  # aapt writes true as all bits set
        flag = 0xFFFFFFFF if value else 0
        return struct.pack("<IIIHBBI", ns, name, NO_INDEX, 8, 0, TYPE_INT_BOOLEAN, flag)
    if isinstance(value, int):
        return struct.pack("<IIIHBBI", ns, name, NO_INDEX, 8, 0, TYPE_INT_DEC, value & 0xFFFFFFFF)
    index = pool.add(value)
    return struct.pack("<IIIHBBI", ns, name, index, 8, 0, TYPE_STRING, index)


# --- reading -------------------------------------------------------------------------------

MAX_STRINGS = 65536
MAX_DEPTH = 64


def parse(data: bytes) -> Element:
    """The root element of a compiled document, or `AxmlError` saying what is wrong. Every
    offset and count is checked against the bytes, as the input comes from whoever pushed it."""
    try:
        return _parse(data)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise AxmlError(f"truncated or corrupt binary XML ({exc})") from None


def _parse(data: bytes) -> Element:
    kind, header_size, size = struct.unpack_from("<HHI", data, 0)
    if kind != RES_XML_TYPE or header_size != 8 or size > len(data) or size < 8:
        raise AxmlError("not Android binary XML (no RES_XML_TYPE chunk)")
    strings: list[str] = []
    resource_ids: list[int] = []
    stack: list[Element] = []
    root: Element | None = None
    offset = header_size
    while offset + 8 <= size:
        kind, header_size, chunk_size = struct.unpack_from("<HHI", data, offset)
        if chunk_size < 8 or header_size < 8 or offset + chunk_size > size:
            raise AxmlError(f"a chunk at offset {offset} runs past the document")
        chunk = data[offset : offset + chunk_size]
        if kind == RES_STRING_POOL_TYPE:
            strings = _string_pool(chunk)
        elif kind == RES_XML_RESOURCE_MAP_TYPE:
            count = (chunk_size - header_size) // 4
            resource_ids = list(struct.unpack_from(f"<{count}I", chunk, header_size))
        elif kind == RES_XML_START_ELEMENT_TYPE:
            element = _start_element(chunk, header_size, strings, resource_ids)
            if stack:
                stack[-1].children.append(element)
            elif root is None:
                root = element
            else:
                raise AxmlError("more than one root element")
            stack.append(element)
            if len(stack) > MAX_DEPTH:
                raise AxmlError("elements nested implausibly deep")
        elif kind == RES_XML_END_ELEMENT_TYPE:
            if not stack:
                raise AxmlError("an end tag with no start tag")
            stack.pop()
        offset += chunk_size
    if root is None or stack:
        raise AxmlError("no complete root element")
    return root


def _string_pool(chunk: bytes) -> list[str]:
    _, header_size, size, count, _styles, flags, start, _ = struct.unpack_from(
        "<HHIIIIII", chunk, 0
    )
    if count > MAX_STRINGS or header_size + 4 * count > size or start > size:
        raise AxmlError("a string pool larger than its chunk")
    offsets = struct.unpack_from(f"<{count}I", chunk, header_size)
    utf8 = bool(flags & UTF8_FLAG)
    return [_read_string(chunk, start + offset, utf8=utf8) for offset in offsets]


def _read_length(chunk: bytes, at: int, *, wide: bool) -> tuple[int, int]:
    if wide:
        (first,) = struct.unpack_from("<H", chunk, at)
        if first & 0x8000:
            (second,) = struct.unpack_from("<H", chunk, at + 2)
            return (first & 0x7FFF) << 16 | second, at + 4
        return first, at + 2
    first = chunk[at]
    if first & 0x80:
        return (first & 0x7F) << 8 | chunk[at + 1], at + 2
    return first, at + 1


def _read_string(chunk: bytes, at: int, *, utf8: bool) -> str:
    if utf8:
        _, at = _read_length(chunk, at, wide=False)
        length, at = _read_length(chunk, at, wide=False)
        raw = chunk[at : at + length]
        if len(raw) != length:
            raise AxmlError("a string runs past its pool")
        return raw.decode()
    length, at = _read_length(chunk, at, wide=True)
    raw = chunk[at : at + 2 * length]
    if len(raw) != 2 * length:
        raise AxmlError("a string runs past its pool")
    return raw.decode("utf-16-le")


def _string(strings: list[str], index: int) -> str:
    if index >= len(strings):
        raise AxmlError(f"string index {index} is outside the pool")
    return strings[index]


def _start_element(
    chunk: bytes, header_size: int, strings: list[str], resource_ids: list[int]
) -> Element:
    _ns, name, attr_start, attr_size, count = struct.unpack_from("<IIHHH", chunk, header_size)
    if attr_size < 20:
        raise AxmlError("attributes smaller than Android's")
    attributes = []
    for i in range(count):
        at = header_size + attr_start + i * attr_size
        _, attr_name, raw, _size, _res0, data_type, value = struct.unpack_from(
            "<IIIHBBI", chunk, at
        )
        resource_id = resource_ids[attr_name] if attr_name < len(resource_ids) else 0
        # Android reads its attributes by resource id (package 0x01); a name alone is ignored.
        is_android = resource_id >> 24 == 0x01
        label = ATTRIBUTE_NAMES.get(resource_id) or _string(strings, attr_name)
        attributes.append(Attribute(label, _value(strings, raw, data_type, value), is_android))
    return Element(_string(strings, name), tuple(attributes))


def _value(strings: list[str], raw: int, data_type: int, value: int) -> str | int:
    if data_type == TYPE_STRING:
        return _string(strings, value)
    if data_type in (TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN):
        return value - (1 << 32) if value & 0x80000000 else value
    if raw != NO_INDEX:
        return _string(strings, raw)
    return value
