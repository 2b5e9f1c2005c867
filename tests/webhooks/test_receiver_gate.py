"""`ReceiverGate`: the per-lane (key, receiver) cap and circuit breaker of webhook delivery and the per-receiver
ceiling, on a hand-driven clock."""

from __future__ import annotations

from refvid.tasks.store.outbox import receiver_of
from refvid.webhooks.receivers import FAILURES_TO_OPEN, FIRST_COOLDOWN_S, MAX_COOLDOWN_S, ReceiverGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msgs(*receivers: str, owner: str = "k") -> list[dict[str, str]]:
    return [{"id": f"m{i}", "owner": owner, "receiver": r} for i, r in enumerate(receivers)]


A = ("k", "a")  # key k's lane to receiver a


def test_receivers_are_origins() -> None:
    assert receiver_of("https://Hooks.Example.com/a?x=1") == "https://hooks.example.com:443"
    assert receiver_of("http://hooks.example.com:8080/b") == "http://hooks.example.com:8080"
    assert receiver_of("http://hooks.example.com/b") == receiver_of("http://hooks.example.com:80/c")
    assert receiver_of("http://x:99999999/") == receiver_of("http://x:99999999/")  # unparsable port: stable


def test_each_receiver_gets_at_most_its_cap_and_others_still_get_room() -> None:
    gate = ReceiverGate(cap=2)
    chosen = gate.choose(msgs("a", "a", "a", "b", "a", "c"), limit=10)
    assert chosen == ["m0", "m1", "m3", "m5"]
    for _ in range(2):
        gate.started(A)
    assert gate.blocked().lanes == [A]
    assert gate.choose(msgs("a", "b"), limit=10) == ["m1"]
    assert gate.choose(msgs("b", "b", "c"), limit=2) == ["m0", "m1"]  # the free slots bound it too
    gate.finished(A, 200, delivered=True)
    assert gate.blocked().lanes == []


def test_consecutive_failures_open_the_breaker_then_one_probe_goes_out() -> None:
    clock = Clock()
    gate = ReceiverGate(cap=4, clock=clock)
    for _ in range(FAILURES_TO_OPEN - 1):
        gate.started(A)
        gate.finished(A, 503, delivered=False)
    assert not gate.is_open(A) and gate.choose(msgs("a"), 1) == ["m0"]
    gate.started(A)
    gate.finished(A, None, delivered=False)  # a timeout counts too
    assert gate.is_open(A) and gate.blocked().lanes == [A] and gate.choose(msgs("a", "b"), 5) == ["m1"]
    clock.now += FIRST_COOLDOWN_S + 0.1
    assert gate.choose(msgs("a", "a"), 5) == ["m0"]  # half-open: one probe
    gate.started(A)
    assert gate.choose(msgs("a"), 5) == []
    gate.finished(A, 500, delivered=False)  # the probe failed: rest twice as long
    assert gate.is_open(A)
    clock.now += FIRST_COOLDOWN_S + 0.1
    assert gate.is_open(A)
    clock.now += FIRST_COOLDOWN_S
    gate.started(A)
    gate.finished(A, 204, delivered=True)  # the probe succeeded: closed, full cap again
    assert not gate.is_open(A) and gate.choose(msgs("a", "a", "a", "a", "a"), 9) == ["m0", "m1", "m2", "m3"]


def test_refusals_do_not_count_and_the_cooldown_is_bounded() -> None:
    clock = Clock()
    gate = ReceiverGate(cap=1, clock=clock)
    for _ in range(FAILURES_TO_OPEN * 2):  # a receiver that answers 400 is up and deciding
        gate.started(A)
        gate.finished(A, 400, delivered=False)
    assert not gate.is_open(A)
    for _ in range(40):
        for _ in range(FAILURES_TO_OPEN):
            gate.started(A)
            gate.finished(A, 429, delivered=False)
        clock.now += MAX_COOLDOWN_S + 1
    gate.started(A)
    gate.finished(A, 502, delivered=False)
    assert gate.is_open(A)
    clock.now += MAX_COOLDOWN_S + 1
    assert not gate.is_open(A)


def test_attempts_already_on_the_wire_when_it_opens_do_not_lengthen_the_rest() -> None:
    clock = Clock()
    gate = ReceiverGate(cap=8, clock=clock)
    for _ in range(FAILURES_TO_OPEN + 3):
        gate.started(A)
    for _ in range(FAILURES_TO_OPEN + 3):  # 5 open it; the 3 that were in flight too do not count again
        gate.finished(A, 503, delivered=False)
    clock.now += FIRST_COOLDOWN_S + 0.1
    assert not gate.is_open(A) and gate.choose(msgs("a", "a"), 5) == ["m0"]  # the first rest, then a probe


def test_one_keys_lane_rests_and_fills_alone_while_another_key_reaches_the_same_receiver() -> None:
    """Issue 27: key k failing and hanging on receiver a neither rests nor fills a for key j."""
    clock = Clock()
    gate = ReceiverGate(cap=2, clock=clock)
    assert gate.ceiling == 4
    for _ in range(FAILURES_TO_OPEN):
        gate.started(A)
        gate.finished(A, 503, delivered=False)
    assert gate.is_open(A) and not gate.is_open(("j", "a"))
    assert gate.choose(msgs("a", "a") + msgs("a", owner="j"), 5) == ["m0"]  # j's message only
    clock.now += FIRST_COOLDOWN_S + 0.1
    gate.started(A)  # the probe hangs
    assert gate.blocked().lanes == [A] and gate.blocked().receivers == []
    assert gate.choose(msgs("a", "a", owner="j"), 5) == ["m0", "m1"]


def test_the_receiver_ceiling_is_a_backstop_no_single_key_fills() -> None:
    gate = ReceiverGate(cap=2)
    for _ in range(2):
        gate.started(A)
    assert gate.blocked().receivers == []  # k is at its cap, a still has room for others
    for _ in range(2):
        gate.started(("j", "a"))
    assert gate.blocked().receivers == ["a"]
    assert gate.choose(msgs("a", "b", owner="x"), 5) == ["m1"]  # a is at its ceiling: only b
    gate.finished(A, 200, delivered=True)
    assert gate.blocked().receivers == []
