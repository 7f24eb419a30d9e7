"""The progress bar of Client.watch(): tqdm's, when it is installed."""
import sys
import time


class _Bar:
    """A tqdm bar over a search's evaluations. Its "running" is the most candidates in training
    at once over the last 10 s: the event of a stored result always finds that result's worker
    between two leases."""

    def __init__(self, tqdm):
        self._tqdm = tqdm
        self._bar = None
        self._running = []  # (monotonic time, running)

    def show(self, search):
        done = search.evaluated + search.failed
        if self._bar is None:
            self._bar = self._tqdm(total=search.target, initial=done, unit="cand",
                                   desc=f"search {search.id}", file=sys.stderr)
        now = time.monotonic()
        self._running = [(t, r) for t, r in self._running if t >= now - 10]
        self._running.append((now, search.running))
        self._bar.total = search.target
        self._bar.n = done
        self._bar.set_postfix(running=max(r for _, r in self._running),
                              best=f"{search.best_accuracy:.4f}", state=search.state.lower(),
                              refresh=False)
        self._bar.refresh()

    def close(self):
        if self._bar is not None:
            self._bar.close()


def progress_bar(wanted):
    if not wanted:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return _Bar(tqdm)
