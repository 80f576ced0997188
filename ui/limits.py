"""Guards for a hosted demo: a process-wide cap on concurrent inferences, and the memory budget that refuses a
configuration before it runs (its estimate comes from mae_core.cost).

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

from mae_core import settings
from mae_core.cost import MemoryEstimate, inference_estimate
from mae_core.errors import MAEError


MAX_CONCURRENT = max(1, settings.get("MAE_MAX_CONCURRENT"))
MEMORY_BUDGET_MB = max(1, settings.get("MAE_MEMORY_BUDGET_MB"))
WAIT_TIMEOUT_S = max(1, settings.get("MAE_BUSY_TIMEOUT_S"))


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


def check_inference(cfg, mask_ratio: float | None = None) -> MemoryEstimate:
    """inference_estimate, refused with a BudgetError (one line, shown in place) when over this server's budget."""
    est = inference_estimate(cfg, mask_ratio)
    check_budget(est, f"I={cfg.img_size[0]}, p={cfg.patch_size} (L={cfg.num_patches:,})",
                 remedy=REMEDY if mask_ratio is not None else REMEDY_NO_MASK)
    return est
