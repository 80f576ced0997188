"""Guards for a hosted demo: a process-wide cap on concurrent inferences and a memory budget.

Both are read from the environment once per process:
  MAE_MAX_CONCURRENT   inferences running at once across all sessions (default 2)
  MAE_MEMORY_BUDGET_MB largest estimated peak memory of one inference (default 4096)
"""
from __future__ import annotations

import heapq
import statistics
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from mae_core.attention import analysis_memory_bytes
from mae_core import settings
from mae_core.errors import MAEError


MAX_CONCURRENT = max(1, settings.get("MAE_MAX_CONCURRENT"))
MEMORY_BUDGET_MB = max(1, settings.get("MAE_MEMORY_BUDGET_MB"))
WAIT_TIMEOUT_S = max(1, settings.get("MAE_BUSY_TIMEOUT_S"))
BYTES = 4  # float32 on CPU


class BusyError(MAEError):
    """All inference slots stayed taken for longer than the wait limit."""


class BudgetError(MAEError):
    """A configuration whose estimated memory exceeds the budget (refused before running)."""


class Limiter:
    """A process-wide cap of `n` inferences at once, shared by every session, with a first-come-first-served queue.

    Besides what a semaphore does, it tells a waiting session where it stands: its place in the queue and an
    estimate of its wait from the durations of the recent inferences (threading.Semaphore exposes neither, hence
    a Condition and a deque)."""

    def __init__(self, n: int, history: int = 20):
        self.n = n
        self._cond = threading.Condition()
        self._queue: deque = deque()  # waiting tickets, oldest first
        self._running: dict = {}  # ticket -> monotonic start time
        self._durations: deque = deque(maxlen=history)  # seconds of the last inferences
        self.in_use = 0

    @property
    def busy(self) -> bool:
        return self.in_use >= self.n

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def typical_s(self) -> float | None:
        """Median duration of the recent inferences (None before the first one)."""
        with self._cond:
            return statistics.median(self._durations) if self._durations else None

    def status(self, thread_id: int) -> SlotStatus | None:
        """Where the inference of thread `thread_id` stands, or None when it neither waits nor runs."""
        now = time.monotonic()
        with self._cond:
            typical = statistics.median(self._durations) if self._durations else None
            for t, started in self._running.items():
                if t.thread == thread_id:
                    return SlotStatus("running", 0, now - started, typical)
            for k, t in enumerate(self._queue):
                if t.thread == thread_id:
                    return SlotStatus("queued", k + 1, now - t.queued, typical,
                                      self._estimate_wait(k, now, typical))
        return None

    def _estimate_wait(self, ahead: int, now: float, typical: float | None) -> float | None:
        """Seconds until the ticket with `ahead` tickets in front of it starts: free slots and the slots of the
        running inferences (each expected to take `typical`) are handed out in order (called under the lock)."""
        if typical is None:
            return None
        free = sorted([max(0.0, typical - (now - s)) for s in self._running.values()]
                      + [0.0] * max(0, self.n - len(self._running)))
        for _ in range(ahead):
            t = heapq.heappop(free)
            heapq.heappush(free, t + typical)
        return free[0]

    @contextmanager
    def slot(self, timeout: float = WAIT_TIMEOUT_S):
        ticket = _Ticket(threading.get_ident(), time.monotonic())
        deadline = ticket.queued + timeout
        with self._cond:
            self._queue.append(ticket)
            while self.in_use >= self.n or self._queue[0] is not ticket:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    raise BusyError(f"the server is busy ({self.n} inferences running) and no slot freed up within "
                                    f"{timeout:.0f} s; try again in a moment")
                self._cond.wait(left)
            self._queue.popleft()
            self.in_use += 1
            started = time.monotonic()
            self._running[ticket] = started
            self._cond.notify_all()  # the next in line may start too when a slot is still free
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= 1
                del self._running[ticket]
                self._durations.append(time.monotonic() - started)
                self._cond.notify_all()


@dataclass(frozen=True, eq=False)
class _Ticket:
    thread: int
    queued: float


@dataclass(frozen=True)
class SlotStatus:
    """One session's inference: 'queued' (position 1 = next to start) or 'running'."""

    state: str
    position: int
    elapsed_s: float
    typical_s: float | None  # median of the recent inferences; None before the first
    wait_s: float | None = None  # estimated seconds until it starts (queued only; None without history)


LIMITER = Limiter(MAX_CONCURRENT)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one batch-1 float32 forward pass (inference, no gradients)."""

    weights: float
    encoder_attention: float  # one layer's attention matrix: heads x (Le+1)^2
    encoder_activations: float
    decoder_attention: float  # heads x (Ld+1)^2
    decoder_activations: float
    attention_maps: float  # attention analysis: captured block inputs + one chunk of scores + returned maps

    @property
    def peak(self) -> float:
        enc = self.encoder_attention + self.encoder_activations
        dec = self.decoder_attention + self.decoder_activations
        return self.weights + max(enc, dec) + self.attention_maps

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


FORMULA = (
    "peak ≈ weights + max(encoder, decoder) + kept attention maps, in float32 (4 bytes), batch 1, inference:\n"
    "- attention matrix of one layer = heads × N² × 4 B (N = tokens incl. CLS: Le+1 in the encoder, Ld+1 in the "
    "decoder), counted as if materialised (fused kernels may use less, so this is an upper bound);\n"
    "- activations of one block = N × D × (6 + 2·mlp_ratio) × 4 B (residual, norm, q/k/v, projection, MLP hidden; "
    "the decoder at its own MLP ratio when it has one);\n"
    "- attention analysis (mae_core.attention, full image) keeps the head-fused rollout matrices, depth × (L+1)² × 4 B "
    "(or, past 256 MiB, every block's normed input, depth × (L+1) × D × 4 B), one chunk of scores, "
    "heads × 256 × (L+1) × 4 B, and the returned per-layer maps, 2 × depth × heads × L × 4 B.")


def param_count(embed_dim: int, depth: int, dec_dim: int, dec_depth: int, patch_size: int, mlp_ratio: float = 4.0,
                in_chans: int = 3, with_decoder: bool = True, dec_mlp_ratio: float | None = None) -> int:
    """Parameters of an MAE (position tables and norms included, approximately); dec_mlp_ratio: the decoder
    blocks' MLP ratio when it differs from the encoder's."""
    def blocks(d, n, ratio=mlp_ratio):
        return n * ((4 + 2 * ratio) * d * d + (9 + ratio) * d)

    n = in_chans * patch_size**2 * embed_dim + embed_dim + blocks(embed_dim, depth) + 2 * embed_dim
    if with_decoder:
        n += embed_dim * dec_dim + dec_dim + blocks(dec_dim, dec_depth, mlp_ratio if dec_mlp_ratio is None
                                                    else dec_mlp_ratio) + 2 * dec_dim
        n += dec_dim * in_chans * patch_size**2 + in_chans * patch_size**2
    return int(n)


def estimate_memory(*, L: int, Le: int, Ld: int, embed_dim: int, depth: int, num_heads: int, dec_dim: int,
                    dec_depth: int, dec_heads: int, mlp_ratio: float = 4.0, n_params: int,
                    with_decoder: bool = True, attention_analysis: bool = False,
                    dec_mlp_ratio: float | None = None) -> MemoryEstimate:
    ne, nd = Le + 1, Ld + 1
    act = 6 + 2 * mlp_ratio
    dec_act = 6 + 2 * (mlp_ratio if dec_mlp_ratio is None else dec_mlp_ratio)
    return MemoryEstimate(
        weights=BYTES * n_params,
        encoder_attention=BYTES * num_heads * ne**2,
        encoder_activations=BYTES * ne * embed_dim * act,
        decoder_attention=BYTES * dec_heads * nd**2 if with_decoder else 0.0,
        decoder_activations=BYTES * nd * dec_dim * dec_act if with_decoder else 0.0,
        attention_maps=analysis_memory_bytes(T=L + 1, dim=embed_dim, heads=num_heads, depth=depth)
        if attention_analysis else 0.0,
    )


def estimate_for_config(cfg, L: int, Le: int, Ld: int, attention_analysis: bool = False) -> MemoryEstimate:
    """estimate_memory for an mae_core MAEConfig."""
    n_params = param_count(cfg.embed_dim, cfg.depth, cfg.decoder_embed_dim, cfg.decoder_depth, cfg.patch_size,
                           cfg.mlp_ratio, cfg.in_chans, cfg.has_decoder, cfg.dec_mlp_ratio)
    return estimate_memory(L=L, Le=Le, Ld=Ld, embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
                           dec_dim=cfg.decoder_embed_dim, dec_depth=cfg.decoder_depth,
                           dec_heads=cfg.decoder_num_heads, mlp_ratio=cfg.mlp_ratio, n_params=n_params,
                           dec_mlp_ratio=cfg.dec_mlp_ratio,
                           with_decoder=cfg.has_decoder and not attention_analysis,
                           attention_analysis=attention_analysis)


REMEDY = "use a smaller image, a larger patch size or a higher mask ratio"
REMEDY_NO_MASK = "use a smaller image or a larger patch size"  # pages that run the encoder on the full image


def check_budget(est: MemoryEstimate, what: str = "this configuration", budget_mb: int | None = None,
                 remedy: str = REMEDY) -> None:
    """Raise BudgetError (shown in place by the page) when the estimate exceeds the budget; remedy: what the user
    can change on that page."""
    budget = MEMORY_BUDGET_MB if budget_mb is None else budget_mb
    if est.peak_mb > budget:
        raise BudgetError(f"{what} would need about {est.peak_mb:,.0f} MB (estimate), more than this server's "
                          f"budget of {budget:,} MB (MAE_MEMORY_BUDGET_MB); {remedy}")


def inference_estimate(cfg, mask_ratio: float | None = None) -> MemoryEstimate:
    """The memory of one inference of `cfg` at its image and patch size: L patches; the encoder on L(1-r) of them
    (a reconstruction at mask ratio r) or on all of them (mask_ratio None: the attention analysis, which keeps its
    maps and runs no decoder); the decoder on L // k² (k: its downsampling). The one place the pages build it."""
    L = cfg.num_patches
    if mask_ratio is None:
        return estimate_for_config(cfg, L, L, L, attention_analysis=True)
    return estimate_for_config(cfg, L, int(L * (1 - mask_ratio)), L // cfg.decoder_downsampling**2)


def check_inference(cfg, mask_ratio: float | None = None) -> MemoryEstimate:
    """inference_estimate, refused with a BudgetError (one line, shown in place) when over this server's budget."""
    est = inference_estimate(cfg, mask_ratio)
    check_budget(est, f"I={cfg.img_size[0]}, p={cfg.patch_size} (L={cfg.num_patches:,})",
                 remedy=REMEDY if mask_ratio is not None else REMEDY_NO_MASK)
    return est
