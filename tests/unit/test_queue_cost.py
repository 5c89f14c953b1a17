"""`make cost` for the FIFO door: write units per message of both idempotency designs."""

from __future__ import annotations

from bench.queue import Sizes, measure_sizes, per_million, write_units


def test_the_chosen_claim_costs_fewer_write_units_than_a_transaction() -> None:
    wu = write_units(measure_sizes(512))
    assert wu["claim + conditional put"]["new"] == 4  # claim 1 + ledger 1 + GSI 1 + store 1
    assert wu["transaction"]["new"] == 6  # 2 x (1 + 1) + GSI 1 + store 1
    assert wu["claim + conditional put"]["redelivered"] < wu["transaction"]["redelivered"]


def test_a_ledger_item_over_a_kilobyte_costs_two_units_and_two_in_its_index() -> None:
    small, large = Sizes(100, 900, 900), Sizes(100, 1500, 900)
    chosen = "claim + conditional put"
    assert write_units(large)[chosen]["new"] - write_units(small)[chosen]["new"] == 2


def test_measured_items_grow_with_the_payload() -> None:
    small, large = measure_sizes(200), measure_sizes(5000)
    assert large.ledger > small.ledger + 4000
    assert large.idempotency == small.idempotency


def test_dynamodb_is_the_largest_line_for_a_small_message() -> None:
    lines = per_million(measure_sizes(512), payload_bytes=512, cpu_ms=0.05)
    assert max(lines, key=lines.__getitem__) == "DynamoDB writes"
    assert abs(lines["DynamoDB writes"] - 4 * 0.625) < 1e-9
