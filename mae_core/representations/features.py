"""Per-layer encoder features of full (unmasked) images, streamed to a disk cache.

Layers: 0 is the encoder's input (patch embedding + position table, CLS prepended), 1..depth-1 are block outputs,
and ``depth`` is the last block's output after the final LayerNorm (what ``forward_encoder`` returns and what MAE's
linear probe reads). Kinds, per layer:

- ``cls``: the CLS token (N, D);
- ``mean``: the patch tokens averaged (N, D) (CLS excluded; the better summary for small MAE models);
- ``tokens``: every patch token (N, L, D), float16, only for the layers asked for (they are large).

The cache folder is named by a hash of (checkpoint sha256, image-set hash, I, p, fit, feature version); inside it
one ``.npy`` file per (kind, layer), written batch by batch, so peak memory is one batch of activations whatever the
number of images, and ``state.json`` records how many images are done: an interrupted run resumes where it stopped,
and a finished one is read back (as memory maps) without running the model.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import settings
from ..errors import CheckpointError, ConfigError, ImageError

FEATURE_VERSION = 1
KINDS = ("cls", "mean", "tokens")
POOLED = ("cls", "mean")


def feature_dir() -> Path:
    """MAE_FEATURE_DIR, else ~/.cache/mae_explorer/features."""
    env = settings.get("MAE_FEATURE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mae_explorer" / "features"


def cache_key(checkpoint_sha256: str, images_sha256: str, img_size, patch_size: int, fit: str) -> str:
    h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    text = f"v{FEATURE_VERSION}|{checkpoint_sha256}|{images_sha256}|{h}x{w}|p{patch_size}|{fit}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


@dataclass
class FeatureStore:
    """Features of one (checkpoint, image set, I, p) on disk; arrays are read-only memory maps."""

    root: Path
    meta: dict

    @classmethod
    def open(cls, root) -> "FeatureStore":
        root = Path(root)
        return cls(root, json.loads((root / "meta.json").read_text()))

    @property
    def layers(self) -> list[int]:
        return list(range(self.meta["depth"] + 1))

    @property
    def n(self) -> int:
        return int(self.meta["n"])

    @property
    def valid(self) -> np.ndarray:
        return np.load(self.root / "valid.npy")

    @property
    def skipped(self) -> dict:
        return dict(self.meta.get("skipped") or {})

    @property
    def labels(self):
        lab = self.meta.get("labels")
        return None if lab is None else np.asarray(lab)

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes") or [])

    def has(self, kind: str, layer: int) -> bool:
        state = _read_state(self.root)
        key = "pooled" if kind in POOLED else f"tokens_{layer}"
        return state.get(key, 0) >= self.n and (self.root / _fname(kind, layer)).is_file()

    def get(self, kind: str, layer: int, only_valid: bool = True) -> np.ndarray:
        if kind not in KINDS:
            raise ConfigError(f"feature kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if layer not in self.layers:
            raise ConfigError(f"layer {layer} is outside 0..{self.layers[-1]}")
        if not self.has(kind, layer):
            raise ConfigError(f"{kind} features of layer {layer} are not in {self.root.name}; take them with "
                              f"python -m mae_core features" + (f" --tokens {layer}" if kind == "tokens" else ""))
        arr = np.load(self.root / _fname(kind, layer), mmap_mode="r")
        return arr[self.valid] if only_valid else arr

    def valid_labels(self) -> np.ndarray | None:
        lab = self.labels
        return None if lab is None else lab[self.valid]


def _fname(kind: str, layer: int) -> str:
    return f"{kind}_L{layer:02d}.npy"


def _read_state(root: Path) -> dict:
    p = root / "state.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def parse_layers(text, depth: int) -> list[int]:
    """'all' | '' -> none, else '3,6,-1' (negative from the end, over 0..depth)."""
    if text in (None, "", "none"):
        return []
    if text == "all":
        return list(range(depth + 1))
    out = []
    for t in str(text).replace(" ", "").split(","):
        try:
            v = int(t)
        except ValueError:
            raise ConfigError(f"layers must be 'all' or numbers like 3,6,-1; got {text!r}") from None
        v = v + depth + 1 if v < 0 else v
        if not 0 <= v <= depth:
            raise ConfigError(f"layer {t} is outside 0..{depth}")
        out.append(v)
    return sorted(set(out))


def iter_layers(model, imgs):
    """(N, C, H, W) -> yields (layer, (N, 1+L, D)) for layers 0..depth (see the module docstring), full images.
    One layer's activations at a time: the caller pools and writes each before the next block runs."""
    import torch

    n, L = imgs.shape[0], model.cfg.num_patches
    ids = torch.arange(L, device=imgs.device).expand(n, L)
    x = model.encoder_tokens(imgs, ids)
    yield 0, x
    for i, blk in enumerate(model.blocks):
        x = blk(x)
        yield i + 1, (model.norm(x) if i == len(model.blocks) - 1 else x)


def layer_outputs(model, imgs) -> list:
    """Every layer's (N, 1+L, D) tokens, as a list (iter_layers keeps one at a time)."""
    return [h for _, h in iter_layers(model, imgs)]


def _load_batch(paths, size, fit: str):
    """Decoded, fitted, normalised images (N, 3, H, W) and which of them were readable (unreadable -> zeros)."""
    import torch

    from ..images import fit_image, normalise

    out, ok, why = [], [], []
    for p in paths:
        try:
            arr, _ = fit_image(p, size, fit)
            out.append(normalise(arr)[0])
            ok.append(True)
            why.append("")
        except (ImageError, OSError) as e:
            out.append(torch.zeros(3, *size))
            ok.append(False)
            why.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
    return torch.stack(out), ok, why


class _Prefetch:
    """Decode the next batch on a thread while the model runs on the current one (PIL releases the GIL)."""

    def __init__(self, paths, starts, batch_size, size, fit):

        self.pool = ThreadPoolExecutor(max_workers=1)
        self.jobs = [(s, paths[s:s + batch_size]) for s in starts]
        self.size, self.fit = size, fit
        self.next = None

    def __iter__(self):
        fut = None
        for i, (s, chunk) in enumerate(self.jobs):
            if fut is None:
                fut = self.pool.submit(_load_batch, chunk, self.size, self.fit)
            batch = fut.result()
            fut = (self.pool.submit(_load_batch, self.jobs[i + 1][1], self.size, self.fit)
                   if i + 1 < len(self.jobs) else None)
            yield s, batch
        self.pool.shutdown()


class _Rows:
    """One ``.npy`` file written a block of rows at a time by positioned writes. A memory map would do the same, but
    its written pages stay mapped and count in the process's resident memory: 26 pooled arrays of 10,000 ViT-B
    images add about 800 MB by the end of a run, while written bytes stay in the kernel's page cache."""

    def __init__(self, path: Path, shape, dtype):
        arr = None
        if path.is_file():
            try:
                arr = np.load(path, mmap_mode="r")
            except ValueError:
                arr = None
            if arr is not None and (arr.shape != shape or arr.dtype != dtype):
                arr = None
        if arr is None:  # a fresh file of the right size (sparse until written)
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self.offset, self.dtype = int(arr.offset), np.dtype(dtype)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        del arr
        self.file = open(path, "r+b")

    def write(self, start: int, block) -> None:
        self.file.seek(self.offset + start * self.row_bytes)
        self.file.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class FeatureRun:
    """One extraction in progress: its cache folder, the outputs still needed, and where to resume.

    ``FeatureRun.open`` prepares the folder (or finds it finished: ``done``), ``batches`` decodes the images still to
    do, and ``write`` runs one batch through the encoder and puts every needed output on disk before recording it
    in ``state.json``, so a run stopped anywhere resumes after the last batch recorded."""

    def __init__(self, root: Path, meta: dict, images, token_layers, fit: str):
        self.root, self.meta, self.images, self.fit = root, meta, images, fit
        self.state = _read_state(root)
        n, L, D, depth = meta["n"], meta["num_patches"], meta["dim"], meta["depth"]
        self.need_pooled = self.state.get("pooled", 0) < n
        self.need_tokens = [t for t in token_layers if self.state.get(f"tokens_{t}", 0) < n]
        self.done = not self.need_pooled and not self.need_tokens
        # resume from the least-advanced output that is still needed
        self.starts_at = min([self.state.get("pooled", 0) if self.need_pooled else n]
                             + [self.state.get(f"tokens_{t}", 0) for t in self.need_tokens])
        self.skipped = dict(meta["skipped"])
        self.files: dict = {}
        if not self.done:
            self.files["valid"] = _Rows(root / "valid.npy", (n,), np.dtype(bool))
            if self.need_pooled:
                for k in POOLED:
                    for layer in range(depth + 1):
                        self.files[(k, layer)] = _Rows(root / _fname(k, layer), (n, D), np.dtype(np.float32))
            for t in self.need_tokens:
                self.files[t] = _Rows(root / _fname("tokens", t), (n, L, D), np.dtype(np.float16))

    @classmethod
    def open(cls, cfg, images, *, checkpoint_sha256: str, token_layers=(), fit: str = "stretch",
             cache_dir=None) -> "FeatureRun":
        depth = cfg.depth
        token_layers = sorted(set(int(t) for t in token_layers))
        for t in token_layers:
            if not 0 <= t <= depth:
                raise ConfigError(f"layer {t} is outside 0..{depth}")
        if not len(images):
            raise ConfigError("no images to take features of")
        size = tuple(cfg.img_size)
        key = cache_key(checkpoint_sha256, images.digest(), size, cfg.patch_size, fit)
        root = Path(cache_dir or feature_dir()) / key
        root.mkdir(parents=True, exist_ok=True)
        meta = dict(version=FEATURE_VERSION, checkpoint_sha256=checkpoint_sha256, images_sha256=images.digest(),
                    image_set=images.name, img_size=list(size), patch_size=cfg.patch_size, fit=fit, n=len(images),
                    depth=depth, dim=cfg.embed_dim, num_patches=cfg.num_patches, names=images.names,
                    labels=list(images.labels) if images.labelled else None, classes=list(images.classes),
                    layer_convention="0 = patch embedding + position (input of block 1); 1..depth-1 = block "
                                     "outputs; depth = last block after the final LayerNorm")
        old = json.loads((root / "meta.json").read_text()) if (root / "meta.json").is_file() else {}
        meta["skipped"] = old.get("skipped", {})
        _write_json(root / "meta.json", meta)
        return cls(root, meta, images, token_layers, fit)

    def batches(self, batch_size: int):
        """(start, (images (N, C, H, W), readable, why not)) for every batch still to do, decoded ahead."""
        paths = [str(p) for p in self.images.paths]
        size = tuple(self.meta["img_size"])
        return _Prefetch(paths, range(self.starts_at, self.meta["n"], batch_size), batch_size, size, self.fit)

    def write(self, model, x, s: int, ok, why, amp=None) -> int:
        """Encode one batch (rows s..s+len(x)), write what is still needed, record it; returns the rows done."""
        import torch

        from ..precision import autocast

        e = s + x.shape[0]
        state, files = self.state, self.files
        files["valid"].write(s, np.asarray(ok, dtype=bool))
        for name, good, w in zip(self.images.names[s:e], ok, why):
            if not good:
                self.skipped[name] = w
        pooled = self.need_pooled and state.get("pooled", 0) < e
        with torch.inference_mode(), autocast(x.device, amp):
            for layer, h in iter_layers(model, x):
                if pooled:
                    files[("cls", layer)].write(s, h[:, 0].float().cpu().numpy())
                    files[("mean", layer)].write(s, h[:, 1:].float().mean(1).cpu().numpy())
                if layer in self.need_tokens and state.get(f"tokens_{layer}", 0) < e:
                    files[layer].write(s, h[:, 1:].to(torch.float16).cpu().numpy())
        for f in files.values():
            f.flush()
        if self.need_pooled:
            state["pooled"] = max(state.get("pooled", 0), e)
        for t in self.need_tokens:
            state[f"tokens_{t}"] = max(state.get(f"tokens_{t}", 0), e)
        self.meta["skipped"] = self.skipped
        _write_json(self.root / "meta.json", self.meta)
        _write_json(self.root / "state.json", state)
        return e

    def close(self) -> FeatureStore:
        for f in self.files.values():
            f.close()
        self.files = {}
        return FeatureStore.open(self.root)


def extract(model, images, *, checkpoint_sha256: str, token_layers=(), batch_size: int = 32, device=None, amp=None,
            fit: str = "stretch", cache_dir=None, progress: bool = False, on_batch=None) -> FeatureStore:
    """Take (or read back) the features of every image in ``images`` (an ImageSet) with ``model`` at its own
    geometry (prepare the model at another I, p first). token_layers: layers whose per-patch tokens are kept.
    on_batch(done, total): called after each batch is on disk (a progress bar; raising stops the run, which
    then resumes from there next time)."""
    from ..precision import resolve_device

    run = FeatureRun.open(model.cfg, images, checkpoint_sha256=checkpoint_sha256, token_layers=token_layers,
                          fit=fit, cache_dir=cache_dir)
    if run.done:
        return run.close()
    dev = resolve_device(device)
    model = model.to(dev).eval()
    n = run.meta["n"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=run.starts_at, desc=f"features {images.name}", unit="image")
    try:
        for s, (x, ok, why) in run.batches(batch_size):
            e = run.write(model, x.to(dev), s, ok, why, amp)
            if bar is not None:
                bar.update(e - s)
            if on_batch is not None:
                on_batch(e, n)
    finally:
        if bar is not None:
            bar.close()
        store = run.close()
    return store


def features_for(checkpoint, images, *, image_size=None, patch_size=None, token_layers=(), batch_size: int = 32,
                 device=None, amp=None, fit: str = "stretch", cache_dir=None, progress: bool = False,
                 on_batch=None):
    """Load a checkpoint (path), prepare it at (I, p) and take the features of ``images``.
    Returns (FeatureStore, CheckpointInfo, notes)."""
    from ..precision import resolve_device
    from ..reconstruct import prepare

    model, info = load_encoder(checkpoint, resolve_device(device))
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    model, notes = prepare(model, size, patch_size)
    store = extract(model, images, checkpoint_sha256=info.sha256, token_layers=token_layers,
                    batch_size=batch_size, device=device, amp=amp, fit=fit, cache_dir=cache_dir,
                    progress=progress, on_batch=on_batch)
    return store, info, notes


def _encoder_error(checkpoint, e):

    msg = str(e).splitlines()[0]
    if "patch_embed" in msg or "blocks." in msg or "encoder" in msg:
        return CheckpointError(f"{Path(checkpoint).name} holds no usable ViT encoder (patch embedding and blocks), "
                               f"so it cannot give features: {msg}")
    return e


def load_encoder(checkpoint, device="cpu"):
    """load_checkpoint, with a one-line error for a file that holds no encoder."""
    from ..checkpoints import load_checkpoint

    try:
        return load_checkpoint(checkpoint, device=device, probe=False)
    except CheckpointError as e:
        raise _encoder_error(checkpoint, e) from None


def encoder_depth(checkpoint) -> int:
    """The encoder's number of blocks, read from the file's header (no weights loaded)."""
    from ..checkpoints import inspect_checkpoint

    try:
        return inspect_checkpoint(checkpoint).config.depth
    except CheckpointError as e:
        raise _encoder_error(checkpoint, e) from None
