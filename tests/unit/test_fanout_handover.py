"""How a fan-out's results reach the iterating thread (_delivery/fanout.py).

The loop's thread collects the results it finishes in one pass and hands them
over together in its next pass (one wake-up of the iterating thread per pass);
a result finished on any other thread goes at once; once the loop is closing
everything goes at once. Each result reaches the iterator exactly once, under
every order of these events (a fake loop plays the passes).
"""

from __future__ import annotations

import itertools
import queue
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from webpush_core._delivery.fanout import _FanOut
from webpush_core._delivery.result import SendResult, _Call


class FakeLoop:
    """The loop's side as the fan-out sees it: which thread, closing, next pass."""

    def __init__(self) -> None:
        self.here = True  # whether the caller is on the loop's thread
        self.stopping = False
        self.next_pass: list[Callable[[], object]] = []

    def on_loop(self) -> bool:
        return self.here

    def closing(self) -> bool:
        return self.stopping

    def call_soon(self, fn: Callable[[], object]) -> None:
        assert self.here, "call_soon off the loop's thread"
        self.next_pass.append(fn)

    def run_pass(self) -> None:
        fns, self.next_pass = self.next_pass, []
        for fn in fns:
            fn()


def fan_out(loop: FakeLoop) -> _FanOut:
    def unused(*args: Any) -> Any:
        raise AssertionError("not used by these tests")

    return _FanOut(
        SimpleNamespace(sealable=None),  # type: ignore[arg-type]
        _Call(None),
        engine=SimpleNamespace(concurrency=4, exempt=0),  # type: ignore[arg-type]
        arm=unused,
        sealer=None,
        build=unused,
        outline=unused,
        dispatch=unused,
        loop=loop,
    )


def result(i: int) -> SendResult:
    return SendResult(f"sub-{i}", ok=True, status_code=201)


def events(f: _FanOut) -> list[Any]:
    out = []
    while True:
        try:
            out.append(f.events.get_nowait())
        except queue.Empty:
            return out


def test_the_results_of_one_pass_are_handed_over_together_in_the_next() -> None:
    loop = FakeLoop()
    f = fan_out(loop)
    landed = [result(i) for i in range(3)]
    for r in landed:
        f._landed(r)
    assert events(f) == []  # nothing yet: one hand-over is scheduled, once
    assert len(loop.next_pass) == 1
    loop.run_pass()
    assert events(f) == [landed]
    loop.run_pass()
    assert events(f) == []  # nothing twice
    later = result(9)
    f._landed(later)
    assert len(loop.next_pass) == 1
    loop.run_pass()
    assert events(f) == [[later]]


def test_a_result_from_another_thread_goes_at_once_and_leaves_the_loops_list() -> None:
    loop = FakeLoop()
    f = fan_out(loop)
    on_loop, elsewhere = result(0), result(1)
    f._landed(on_loop)
    loop.here = False
    f._landed(elsewhere)
    assert events(f) == [elsewhere]
    assert f.landed == [on_loop]
    loop.here = True
    loop.run_pass()
    assert events(f) == [[on_loop]]


def test_once_closing_everything_goes_at_once_and_the_scheduled_hand_over_adds_nothing() -> None:
    loop = FakeLoop()
    f = fan_out(loop)
    before, after = result(0), result(1)
    f._landed(before)  # its hand-over is scheduled for a pass that may never come
    loop.stopping = True
    f._landed(after)
    assert events(f) == [[before, after]]
    loop.run_pass()  # if it does come
    assert events(f) == []


# Every order of: results landing on the loop, one from another thread, the
# loop passing, the loop starting to close.
STEPS = ("land", "land", "elsewhere", "pass", "close")


@pytest.mark.parametrize("order", sorted(set(itertools.permutations(STEPS))))
def test_each_result_reaches_the_iterator_once_in_every_order(order: tuple[str, ...]) -> None:
    loop = FakeLoop()
    f = fan_out(loop)
    made = 0
    for step in order:
        if step in ("land", "elsewhere"):
            loop.here = step == "land"
            f._landed(result(made))
            made += 1
            loop.here = True
        elif step == "pass":
            loop.run_pass()
        else:
            loop.stopping = True
    landed_after_close = order.index("close") < max(
        i for i, step in enumerate(order) if step == "land"
    )
    if landed_after_close:
        # With no pass after it: what landed after the close went at once, and
        # took everything before it along.
        early = [r for event in events(f) for r in (event if type(event) is list else [event])]
        assert len(early) == made and f.landed == []
        f.events.put(early)  # as the next steps see them
    loop.run_pass()  # the last pass, if the loop makes one
    f.outstanding = made
    got = [r for event in events(f) for r in f._handle(event)]
    assert sorted(r.subscription for r in got) == [f"sub-{i}" for i in range(made)]
    assert f.outstanding == 0
    assert f.landed == []


def test_a_hand_over_is_yielded_one_result_at_a_time_each_counted() -> None:
    f = fan_out(FakeLoop())
    landed = [result(i) for i in range(3)]
    f.outstanding = 3
    handled = f._handle(landed)
    assert next(handled) is landed[0]
    assert f.outstanding == 2  # counted as it is yielded, not before
    assert list(handled) == landed[1:]
    assert f.outstanding == 0


# --------------------------------------------------------------------------
# A batch back from the helper is sent from the loop itself.


class SealingLoop(FakeLoop):
    def __init__(self, https_ready: bool = True) -> None:
        super().__init__()
        self.https_ready = https_ready

    def sends_from_here(self, url: str) -> bool:
        return self.https_ready or url.startswith("http:")


class FakeSealer:
    ready = True

    def __init__(self) -> None:
        self.callbacks: list[Callable[[Any], None]] = []

    def submit(self, plaintext: bytes, padding: int, keys: Any, done: Any) -> bool:
        self.callbacks.append(done)
        return True


def sealing_fan_out(
    loop: SealingLoop, fail_on: str = "", loop_sends: bool = True
) -> tuple[_FanOut, list[Any], FakeSealer]:
    sent: list[Any] = []
    sealer = FakeSealer()

    def finish(endpoint: str, headers: Any, crypto_key: Any, body: bytes) -> Any:
        return ("request", endpoint, body)

    def dispatch(subscription: Any, request: Any, done: Any, call: Any) -> None:
        if subscription == fail_on:
            raise RuntimeError("boom")
        assert loop.here, "dispatched off the loop's thread"
        sent.append((subscription, request))

    f = _FanOut(
        SimpleNamespace(sealable=(b"data", 0), finish=finish),  # type: ignore[arg-type]
        _Call(None),
        engine=SimpleNamespace(concurrency=4, exempt=0),  # type: ignore[arg-type]
        arm=lambda call: None,
        sealer=sealer,  # type: ignore[arg-type]
        build=lambda s, p: None,  # type: ignore[arg-type,return-value]
        outline=lambda s, p: None,  # type: ignore[arg-type,return-value]
        dispatch=dispatch,
        loop=loop,
        loop_sends=lambda: loop_sends,
    )
    return f, sent, sealer


def entry(i: int, scheme: str = "https") -> tuple[Any, ...]:
    return (f"sub-{i}", f"{scheme}://push.example/{i}", {}, [], b"p" * 65, b"a" * 16)


def sealed(f: _FanOut, sealer: FakeSealer, batch: list[Any]) -> Callable[[Any], None]:
    """Hand ``batch`` to the fake helper as the fan-out does; its callback."""
    f.batch = list(batch)
    list(f._seal())
    assert f.sealing == 1
    return sealer.callbacks[-1]


def test_a_batch_back_on_the_loop_is_sent_from_there_and_counted_with_the_results() -> None:
    loop = SealingLoop()
    f, sent, sealer = sealing_fan_out(loop)
    batch = [entry(i) for i in range(3)]
    sealed(f, sealer, batch)([b"b0", b"b1", b"b2"])
    assert sent == [(f"sub-{i}", ("request", batch[i][1], f"b{i}".encode())) for i in range(3)]
    assert events(f) == []  # nothing for the iterating thread until the pass ends
    loop.run_pass()
    [handed] = events(f)
    assert list(f._handle(handed)) == [] and f.sealing == 0


def test_what_the_loop_must_not_send_goes_to_the_iterating_thread_with_its_body() -> None:
    loop = SealingLoop(https_ready=False)  # https would read the CA store
    f, sent, sealer = sealing_fan_out(loop)
    batch = [entry(0, "http"), entry(1), entry(2, "http")]
    sealed(f, sealer, batch)([b"b0", b"b1", None])  # sub-2: its point did not load
    assert [s for s, _ in sent] == ["sub-0"]
    [rest] = events(f)
    assert rest == ([batch[1], batch[2]], [b"b1", None])
    loop.run_pass()
    assert events(f) == []  # the batch is counted by the rest, not twice


def test_a_batch_back_off_the_loop_while_closing_or_for_urllib3_goes_whole_to_the_iterator() -> (
    None
):
    for where in ("elsewhere", "closing", "failed", "urllib3"):
        loop = SealingLoop()
        f, sent, sealer = sealing_fan_out(loop, loop_sends=where != "urllib3")
        batch = [entry(0), entry(1)]
        done = sealed(f, sealer, batch)
        loop.here = where != "elsewhere"
        loop.stopping = where == "closing"
        bodies = None if where == "failed" else [b"b0", b"b1"]
        done(bodies)
        assert sent == [] and events(f) == [(batch, bodies)]


def test_a_batch_with_a_body_count_that_does_not_match_goes_whole() -> None:
    loop = SealingLoop()
    f, sent, sealer = sealing_fan_out(loop)
    batch = [entry(0), entry(1)]
    sealed(f, sealer, batch)([b"b0"])
    assert sent == [] and events(f) == [(batch, [b"b0"])]


def test_a_request_the_loop_cannot_send_becomes_a_failed_result_never_a_lost_one() -> None:
    loop = SealingLoop()
    f, sent, sealer = sealing_fan_out(loop, fail_on="sub-1")
    sealed(f, sealer, [entry(0), entry(1)])([b"b0", b"b1"])
    loop.run_pass()
    [handed] = events(f)
    f.outstanding = 2
    results = list(f._handle(handed))
    assert [s for s, _ in sent] == ["sub-0"]
    assert [r.subscription for r in results] == ["sub-1"] and not results[0].ok
    assert "RuntimeError" in str(results[0].error) and f.sealing == 0


def test_whatever_the_loop_did_not_handle_goes_to_the_iterating_thread_if_anything_raises() -> None:
    """A failure outside one request's own sending (here the check of where it
    may be sent) loses nothing: the entries not yet handled go to the iterating
    thread, the ones already sent are not sent again."""
    loop = SealingLoop()
    calls: list[str] = []

    def sends_from_here(url: str) -> bool:
        calls.append(url)
        if len(calls) == 2:
            raise MemoryError
        return True

    loop.sends_from_here = sends_from_here  # type: ignore[method-assign]
    f, sent, sealer = sealing_fan_out(loop)
    batch = [entry(i) for i in range(4)]
    sealed(f, sealer, batch)([b"b0", b"b1", b"b2", b"b3"])
    assert [s for s, _ in sent] == ["sub-0"]
    assert events(f) == [(batch[1:], [b"b1", b"b2", b"b3"])]
