"""The epoch counter: a checkpointed buffer with a host-side mirror restored on load."""

from __future__ import annotations

from ssl_kd.blocks.epoch_counter import EpochCounter


def test_count_survives_a_state_dict_round_trip() -> None:
    counter = EpochCounter()
    counter.increment()
    counter.increment()
    assert counter.value == 2 and int(counter.count) == 2
    restored = EpochCounter()
    restored.load_state_dict(counter.state_dict())
    assert restored.value == 2
