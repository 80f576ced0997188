"""The catalogue of published MAE checkpoints: which file shows what, where it is, and what it must contain.

The shipped catalogue is ``mae_core/data/catalogue.json``. Every fact in it comes from
``shared/reference/checkpoint-catalogue.md`` (a test re-parses that file and compares): published md5 prefixes are
kept as prefixes, sizes and full checksums stay empty where nobody published them, and what was not verified is
listed per entry under ``unverified``.

Users and operators add entries (or override a shipped one by id, e.g. to point at a mirror) with their own JSON
files: ``MAE_CATALOGUE=file1.json:file2.json`` or ``--catalogue FILE``. Each file is ``{"entries": [...]}`` (or a
bare list) of entries in the shipped schema. A bad entry is left out with one line naming the file, the entry and the
field; the other entries still load.

``python -m mae_core catalogue [--json]`` lists the entries and whether each is already downloaded
(``mae_core.fetch`` downloads and verifies them).
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from . import settings
from .errors import MAEError

SHIPPED = Path(__file__).resolve().parent / "data" / "catalogue.json"
DEFAULT_ID = "mae-vit-large-visualize"

CLASSES = ("encoder-only", "pixel-target", "norm-pix-target", "long-seq")
TARGETS = ("pixels", "normalised pixels")
# expected format -> prefix of mae_core.checkpoints' CheckpointInfo.format
FORMATS = ("facebookresearch/mae .pth", "facebookresearch/long_seq_mae .pth", "transformers ViTMAE",
           "mae_core .safetensors", "safetensors + sidecar .json", "safetensors (MAE key names)")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_HUB_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HEX = re.compile(r"^[0-9a-f]+$")


class CatalogueError(MAEError):
    """A catalogue file or entry that cannot be used (one line: file, entry, field)."""


@dataclass(frozen=True)
class Decoder:
    embed_dim: int
    depth: int
    num_heads: int
    presence: str = "expected"  # "expected" or "unverified" (a file without it is accepted as encoder-only)

    @property
    def name(self) -> str:
        return f"dec{self.embed_dim}d{self.num_heads}h{self.depth}b"


@dataclass(frozen=True)
class Entry:
    """One published checkpoint. Exactly one of ``url`` (a plain file) and ``hub_id`` (a transformers model repo)."""

    id: str
    title: str
    source: str
    format: str
    kind: str  # "class" in the JSON: one of CLASSES
    encoder: str
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    image_size: int
    decoder: Decoder | None
    shows: str
    evidence: str
    url: str | None = None
    hub_id: str | None = None
    revision: str = "main"
    md5_prefix: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    target: str | None = None
    mask_unit: int = 1
    mask_ratio: float = 0.75
    training_data: str | None = None
    epochs: str | None = None
    licence: str | None = None
    unverified: tuple = ()
    origin: str = "shipped"  # the file the entry came from

    @property
    def architecture(self) -> str:
        name = f"{self.encoder}/{self.patch_size}"
        if self.decoder is None:
            return name + ", no decoder"
        name += f" + decoder {self.decoder.name}"
        return name + (" (presence not verified)" if self.decoder.presence == "unverified" else "")

    @property
    def location(self) -> str:
        return self.url or f"hub:{self.hub_id}@{self.revision}"

    @property
    def filename(self) -> str | None:
        """The file name a plain-URL entry is stored under: the URL's last segment, as published (the loader reads
        facts such as ``visualize``, ``_full``, ``dec384d12h8b``, ``img448`` and ``maskds2`` from it)."""
        if not self.url:
            return None
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def heads(self) -> dict:
        """Head counts (not stored in weights) for mae_core.checkpoints.load_checkpoint."""
        return {"num_heads": self.num_heads, "decoder_num_heads": self.decoder.num_heads if self.decoder else None}

    def to_dict(self) -> dict:
        d = {"id": self.id, "title": self.title, "source": self.source}
        d |= {"url": self.url} if self.url else {"hub_id": self.hub_id, "revision": self.revision}
        d |= {"md5_prefix": self.md5_prefix, "sha256": self.sha256, "size_bytes": self.size_bytes,
              "format": self.format, "class": self.kind, "target": self.target,
              "architecture": {"encoder": self.encoder, "embed_dim": self.embed_dim, "depth": self.depth,
                               "num_heads": self.num_heads, "patch_size": self.patch_size,
                               "decoder": None if self.decoder is None else {
                                   "embed_dim": self.decoder.embed_dim, "depth": self.decoder.depth,
                                   "num_heads": self.decoder.num_heads, "presence": self.decoder.presence}},
              "image_size": self.image_size, "mask_unit": self.mask_unit, "mask_ratio": self.mask_ratio,
              "training_data": self.training_data, "epochs": self.epochs, "licence": self.licence,
              "shows": self.shows, "evidence": self.evidence, "unverified": list(self.unverified)}
        return d


@dataclass
class Catalogue:
    entries: dict = field(default_factory=dict)  # id -> Entry, in file order
    problems: list = field(default_factory=list)  # one line per refused entry or file

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self):
        return len(self.entries)

    def __contains__(self, entry_id):
        return entry_id in self.entries

    def get(self, entry_id: str) -> Entry:
        if entry_id not in self.entries:
            near = [e for e in self.entries if entry_id.lower() in e]
            hint = f"; did you mean {', '.join(near[:3])}?" if near else "; `python -m mae_core catalogue` lists them"
            raise CatalogueError(f"no catalogue entry {entry_id!r}{hint}")
        return self.entries[entry_id]


# ------------------------------------------------------------------ validation
_TOP = {"id", "title", "source", "url", "hub_id", "revision", "md5_prefix", "sha256", "size_bytes", "format",
        "class", "target", "architecture", "image_size", "mask_unit", "mask_ratio", "training_data", "epochs",
        "licence", "shows", "evidence", "unverified"}
_ARCH = {"encoder", "embed_dim", "depth", "num_heads", "patch_size", "decoder"}
_DEC = {"embed_dim", "depth", "num_heads", "presence"}


class _Bad(Exception):
    def __init__(self, field_: str, why: str):
        super().__init__(f"field {field_!r}: {why}")


def _str(obj, key, required=True, max_len=400):
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad(key, "missing")
        return None
    if not isinstance(v, str) or not v.strip():
        raise _Bad(key, f"must be a non-empty string, got {v!r}"[:160])
    if len(v) > max_len or "\n" in v:
        raise _Bad(key, f"must be one line of at most {max_len} characters")
    return v.strip()


def _int(obj, key, lo, hi, required=True, where=""):
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad(where + key, "missing")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _Bad(where + key, f"must be a whole number in {lo}..{hi}, got {v!r}"[:160])
    return v


def _unknown(obj: dict, allowed: set, where: str = ""):
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _Bad(where + extra[0], f"unknown field (known: {', '.join(sorted(allowed))})")


def _decoder(obj) -> Decoder | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise _Bad("architecture.decoder", "must be an object or null (no decoder)")
    _unknown(obj, _DEC, "architecture.decoder.")
    presence = obj.get("presence", "expected")
    if presence not in ("expected", "unverified"):
        raise _Bad("architecture.decoder.presence", f"must be 'expected' or 'unverified', got {presence!r}")
    w = "architecture.decoder."
    return Decoder(_int(obj, "embed_dim", 1, 8192, where=w), _int(obj, "depth", 1, 256, where=w),
                   _int(obj, "num_heads", 1, 256, where=w), presence)


def parse_entry(obj, origin: str = "shipped") -> Entry:
    """One JSON object -> Entry; raises _Bad(field, why). Fields are checked in the order they are listed here, so
    the first problem of an entry is the one reported."""
    if not isinstance(obj, dict):
        raise _Bad("(entry)", "each entry must be a JSON object")
    _unknown(obj, _TOP)
    eid = _str(obj, "id", max_len=80)
    if not _ID_RE.match(eid):
        raise _Bad("id", "use lower-case letters, digits, '.', '_' and '-' (at most 80)")
    url, hub = _location(obj)
    md5, sha = _checksums(obj)
    size = _int(obj, "size_bytes", 1, 2**45, required=False)
    fmt, kind, target = _kind(obj, hub)
    arch, dec, embed, heads, patch, image = _architecture(obj, kind)
    ratio = obj.get("mask_ratio", 0.75)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise _Bad("mask_ratio", f"must be a number between 0 and 1, got {ratio!r}")
    unver = obj.get("unverified", [])
    if not isinstance(unver, list) or not all(isinstance(u, str) and u.strip() for u in unver):
        raise _Bad("unverified", "must be a list of strings")
    epochs = obj.get("epochs")
    if epochs is not None and not isinstance(epochs, (str, int)):
        raise _Bad("epochs", "must be a string, a number or null")
    return Entry(
        id=eid, title=_str(obj, "title", max_len=120), source=_str(obj, "source", max_len=120), format=fmt,
        kind=kind, encoder=_str(arch, "encoder", max_len=40), embed_dim=embed,
        depth=_int(arch, "depth", 1, 256, where="architecture."), num_heads=heads, patch_size=patch,
        image_size=image, decoder=dec, shows=_str(obj, "shows"), evidence=_str(obj, "evidence"), url=url, hub_id=hub,
        revision=_str(obj, "revision", required=False, max_len=120) or "main", md5_prefix=md5, sha256=sha,
        size_bytes=size, target=target, mask_unit=_int(obj, "mask_unit", 1, 64, required=False) or 1,
        mask_ratio=float(ratio), training_data=_str(obj, "training_data", required=False),
        epochs=None if epochs is None else str(epochs), licence=_str(obj, "licence", required=False, max_len=120),
        unverified=tuple(u.strip() for u in unver), origin=origin)


def _location(obj: dict) -> tuple[str | None, str | None]:
    """(url, hub_id): exactly one, a URL ending in a file name or an owner/name hub id."""
    url, hub = _str(obj, "url", required=False, max_len=2000), _str(obj, "hub_id", required=False, max_len=200)
    if bool(url) == bool(hub):
        raise _Bad("url/hub_id", "give exactly one of url (a file) and hub_id (a hub model)")
    if url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _Bad("url", f"must be an http(s) URL, got {url!r}"[:160])
        name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
        if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
            raise _Bad("url", "must end in a file name")
        if "revision" in obj:
            raise _Bad("revision", "only for hub_id entries")
    if hub and not _HUB_RE.match(hub):
        raise _Bad("hub_id", f"must look like owner/name, got {hub!r}"[:160])
    return url, hub


def _checksums(obj: dict) -> tuple[str | None, str | None]:
    """(md5_prefix, sha256), each optional and lower-case hex."""
    md5 = obj.get("md5_prefix")
    if md5 is not None and (not isinstance(md5, str) or not 4 <= len(md5) <= 32 or not _HEX.match(md5)):
        raise _Bad("md5_prefix", "must be 4 to 32 lower-case hex digits (the start of the published md5)")
    sha = obj.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64 or not _HEX.match(sha)):
        raise _Bad("sha256", "must be 64 lower-case hex digits")
    return md5, sha


def _kind(obj: dict, hub: str | None) -> tuple[str, str, str | None]:
    """(format, class, target) from their closed vocabularies."""
    fmt = _str(obj, "format")
    if fmt not in FORMATS:
        raise _Bad("format", f"must be one of {', '.join(FORMATS)}")
    if hub and fmt != "transformers ViTMAE":
        raise _Bad("format", "a hub_id entry is a transformers ViTMAE model")
    kind = _str(obj, "class")
    if kind not in CLASSES:
        raise _Bad("class", f"must be one of {', '.join(CLASSES)}")
    target = obj.get("target")
    if target is not None and target not in TARGETS:
        raise _Bad("target", f"must be one of {', '.join(TARGETS)} or null")
    return fmt, kind, target


def _architecture(obj: dict, kind: str) -> tuple:
    """(architecture object, decoder, width, heads, patch, image size), consistent with each other and the class."""
    arch = obj.get("architecture")
    if not isinstance(arch, dict):
        raise _Bad("architecture", "missing (an object: encoder, embed_dim, depth, num_heads, patch_size, decoder)")
    _unknown(arch, _ARCH, "architecture.")
    if "decoder" not in arch:
        raise _Bad("architecture.decoder", "missing (null when the file has no decoder)")
    dec = _decoder(arch["decoder"])
    if (kind == "encoder-only") != (dec is None):
        raise _Bad("class", "encoder-only exactly when architecture.decoder is null")
    w = "architecture."
    embed, heads = _int(arch, "embed_dim", 1, 8192, where=w), _int(arch, "num_heads", 1, 256, where=w)
    if embed % heads:
        raise _Bad("architecture.num_heads", f"{heads} heads do not divide the width {embed}")
    if dec is not None and dec.embed_dim % dec.num_heads:
        raise _Bad("architecture.decoder.num_heads", f"{dec.num_heads} heads do not divide {dec.embed_dim}")
    patch = _int(arch, "patch_size", 1, 1024, where=w)
    image = _int(obj, "image_size", 1, 16384)
    if image % patch:
        raise _Bad("image_size", f"{image} is not a whole number of {patch}-px patches")
    return arch, dec, embed, heads, patch, image


def _read_file(path: Path, cat: Catalogue, origin: str | None = None) -> None:
    name = path.name
    try:
        if path.stat().st_size > 4 * 2**20:
            raise CatalogueError(f"catalogue {name}: larger than 4 MB")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        cat.problems.append(f"catalogue {path}: no such file")
        return
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        cat.problems.append(f"catalogue {name}: not valid JSON ({' '.join(str(e).split())[:100]})")
        return
    except CatalogueError as e:
        cat.problems.append(str(e))
        return
    items = doc.get("entries") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        cat.problems.append(f"catalogue {name}: expected {{\"entries\": [...]}} or a list of entries")
        return
    seen = set()
    for i, obj in enumerate(items):
        label = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else f"#{i + 1}"
        try:
            e = parse_entry(obj, origin=origin or str(path))
        except _Bad as b:
            cat.problems.append(f"catalogue {name}: entry {label!r}: {b}")
            continue
        if e.id in seen:
            cat.problems.append(f"catalogue {name}: entry {e.id!r}: field 'id': appears twice in this file")
            continue
        seen.add(e.id)
        cat.entries[e.id] = e  # a user entry with a shipped id replaces it (e.g. a mirror URL)


def extra_files() -> list[Path]:
    """The user catalogue files named by MAE_CATALOGUE (os.pathsep-separated), read at call time."""
    return [Path(p).expanduser() for p in settings.get("MAE_CATALOGUE")]


def load_catalogue(files=None, include_env: bool = True, shipped: Path | None = SHIPPED) -> Catalogue:
    """The shipped catalogue, then MAE_CATALOGUE's files, then ``files``; later entries replace earlier ones by id.
    Bad entries are left out and reported one line each in ``.problems``."""
    cat = Catalogue()
    if shipped:
        _read_file(Path(shipped), cat, origin="shipped")
    for p in (extra_files() if include_env else []) + [Path(f) for f in (files or [])]:
        _read_file(p, cat)
    return cat
