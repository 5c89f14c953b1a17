"""`make push` (local.demo --events): input it cannot use is reported, and fails the command."""

from __future__ import annotations

from rich.console import Console

from local.demo import run


def test_a_file_with_only_unusable_lines_exits_non_zero(tmp_path):
    # GIVEN a file whose every line is unusable (not JSON, not an object, missing fields)
    events = tmp_path / "bad.jsonl"
    events.write_text('not json\n[1, 2]\n{"Source": "a.b"}\n\n')
    console = Console(record=True, width=200)
    # WHEN it is pushed
    code = run(events, progress=False, console=console)
    # THEN the command fails and says why, line by line
    out = console.export_text()
    assert code == 1
    assert "nothing to push: no usable line" in out
    assert "bad.jsonl:1" in out
    assert "bad.jsonl:2: expected a JSON object, got list" in out
    assert "bad.jsonl:3: missing DetailType, Detail" in out


def test_a_push_reports_only_the_pushed_files_events(tmp_path):
    # GIVEN a file with one usable event
    events = tmp_path / "mine.jsonl"
    events.write_text(
        '{"Source": "acme.orders", "DetailType": "OrderPlaced", '
        '"Detail": {"metadata": {"event_id": "mine-1"}}}\n'
    )
    console = Console(record=True, width=200)
    # WHEN it is pushed as `make push` does (no stream samples, no showcase)
    code = run(events, progress=False, console=console, stream_events=None, showcase=False)
    # THEN the report counts that one event, and none of the demo's own appends or messages
    out = console.export_text()
    assert code == 0, out
    published = next(line for line in out.splitlines() if "events published" in line)
    assert published.rstrip(" │|").endswith(" 1"), published
    assert "Aggregate store" not in out
    assert "FIFO door" not in out
