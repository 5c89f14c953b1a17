"""``kahula replay``: archived events back onto the bus, each keeping its identity.

The engine is ``kahula.cli.replay`` (how identity is kept, the partitions, the checkpoint);
this module turns options into a window, picks the clients (the replay role's, assumed), shows
progress and the summary, and maps the result to an exit code.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ... import stack_outputs as so
from ..context import State, Target, aws_errors
from ..output import ExitCode, Output, UsageError
from ..replay import (
    BusReplaySummary,
    Replayer,
    ReplayError,
    Summary,
    Window,
    parse_time,
    replay_from_bus_archive,
)

#: Where checkpoints go by default: one file per environment and window, in the working dir.
CHECKPOINT_DIR = Path(".kahula-replay")
SHOWN = 20  # failed / skipped lines listed in human output (all of them with --json)


def replay_source(prefix: str) -> str:
    from kahula_core import spec  # noqa: PLC0415

    return spec.replay_source(prefix)


def replay_clients(target: Target, *, role_arn: str | None, assume_role: bool) -> tuple[Any, Any]:
    """(s3, events) clients: the replay role's, assumed with the caller's credentials
    (deployed), or the target's own (local, or ``--no-assume-role``)."""
    if target.is_local or not assume_role:
        return target.client("s3"), target.client("events")
    arn = role_arn or target.output(so.REPLAY_ROLE_ARN, "the role kahula replay assumes")
    import boto3  # noqa: PLC0415 - only deployed

    with aws_errors():
        credentials = target.client("sts").assume_role(
            RoleArn=arn, RoleSessionName="kahula-replay", DurationSeconds=3600
        )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=target.region,
    )
    return session.client("s3"), session.client("events")


def show_summary(out: Output, summary: Summary) -> None:
    if out.json_mode:
        out.document(summary.as_dict())
        return
    rows = [
        ("window", summary.window),
        ("hour partitions listed", summary.partitions),
        ("objects read", summary.objects),
        ("lines read", summary.lines_read),
        ("already done (checkpoint)", summary.already_done),
        ("matched (window and filters)", summary.matched),
        ("filtered out", summary.filtered_out),
        ("published" + (" (dry run: nothing)" if summary.dry_run else ""), summary.published),
        ("entries retried", summary.retries),
        ("failed", len(summary.failed)),
        ("skipped (malformed lines)", len(summary.skipped)),
    ]
    if summary.resumed_from:
        rows.insert(1, ("resumed after", summary.resumed_from))
    out.table("replay from the S3 archive", ("", "count"), rows, fold=("count",))
    for title, items in (("failed", summary.failed), ("skipped", summary.skipped)):
        if items:
            out.table(
                f"{title} ({len(items)})",
                ("where (object:line)", "reason"),
                items[:SHOWN],
                fold=("where (object:line)", "reason"),
            )
            if len(items) > SHOWN:
                out.note(f"... and {len(items) - SHOWN} more (all of them with --json)")


def show_bus_summary(out: Output, summary: BusReplaySummary) -> None:
    if out.json_mode:
        out.document(summary.as_dict())
        return
    rows = [
        ("replay", summary.replay_name),
        ("archive", summary.archive),
        ("window", summary.window),
        ("rules", ", ".join(summary.rules) or "every rule on the bus"),
        ("archived events (all time, reconciled over 24 h)", summary.archive_event_count),
        ("state", summary.state),
        ("last replayed event time", summary.last_replayed),
        ("reason", summary.reason),
    ]
    out.table("replay from the bus archive", ("", "value"), rows, fold=("value",))


def register(app: typer.Typer) -> None:
    @app.command("replay", no_args_is_help=True)
    def replay(  # one option per knob the operator turns
        ctx: typer.Context,
        *,
        start: Annotated[
            str, typer.Option("--from", help="first event time (ISO-8601; no offset: UTC)")
        ],
        end: Annotated[str, typer.Option("--to", help="end of the window (exclusive)")],
        detail_types: Annotated[
            list[str] | None, typer.Option("--type", help="only this detail-type (repeatable)")
        ] = None,
        sources: Annotated[
            list[str] | None, typer.Option("--source", help="only this source (repeatable)")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="count what would be replayed; publish nothing")
        ] = False,
        rate: Annotated[
            float | None, typer.Option("--rate", help="at most N events per second")
        ] = None,
        late_minutes: Annotated[
            int,
            typer.Option(
                "--late-minutes", help="also read partitions this long after --to (late arrivals)"
            ),
        ] = 60,
        checkpoint: Annotated[
            Path | None,
            typer.Option(
                "--checkpoint",
                help=f"checkpoint file (default: {CHECKPOINT_DIR}/ENV-<window>.json)",
            ),
        ] = None,
        restart: Annotated[
            bool, typer.Option("--restart", help="ignore the checkpoint; start from the top")
        ] = False,
        role_arn: Annotated[
            str | None,
            typer.Option("--role-arn", help="role to assume (default: stack output ReplayRoleArn)"),
        ] = None,
        assume_role: Annotated[
            bool,
            typer.Option(
                "--assume-role/--no-assume-role",
                help="publish as the replay role (only it may use the replay source)",
            ),
        ] = True,
        from_bus_archive: Annotated[
            bool,
            typer.Option(
                "--from-bus-archive",
                help="EventBridge's own replay (StartReplay) from the bus archive instead",
            ),
        ] = False,
        rules: Annotated[
            list[str] | None,
            typer.Option("--rule", help="--from-bus-archive: only to this rule ARN (repeatable)"),
        ] = None,
        timeout: Annotated[
            float, typer.Option("--timeout", help="--from-bus-archive: seconds to wait for it")
        ] = 3600.0,
    ) -> int:
        """Put archived events back on the bus; replaying what is stored changes nothing.

        From the S3 archive (default): reads the window's hour partitions, keeps the events
        whose time is in [--from, --to) and that pass --type / --source, and publishes each
        wrapped under the reserved replay source, as the replay role. The persister stores the
        original inside with its own id and hash: an event already stored is a duplicate (no
        new item, no conflict), a lost one is stored. Consumers of the bus do not see these
        replays. Interrupted, the same command resumes from its checkpoint.

        --from-bus-archive: EventBridge's own replay from the bus's archive to every rule (or
        --rule ARNs), so consumers get the events again, marked with `replay-name`.

        Exit code 1 when some events failed (each listed with its reason).

        Examples:

          kahula replay --from 2026-11-22T07:00Z --to 2026-11-22T08:00Z --dry-run

          kahula --env prod replay --from 2026-11-21 --to 2026-11-22 --type X --rate 200

          kahula replay --from-bus-archive --from 2026-11-22T07:00Z --to 2026-11-22T07:30Z
        """
        state = State.of(ctx)
        out = state.out
        try:
            window = Window(
                start=parse_time(start, "--from"),
                end=parse_time(end, "--to"),
                detail_types=frozenset(detail_types or ()),
                sources=frozenset(sources or ()),
                lateness=timedelta(minutes=late_minutes),
            )
        except ReplayError as exc:
            raise UsageError(str(exc)) from None
        target = state.target()

        if from_bus_archive:
            name = (
                "kahula-"
                + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                + "-"
                + (hashlib.sha256(window.fingerprint().encode()).hexdigest()[:6])
            )
            try:
                with aws_errors():
                    summary = replay_from_bus_archive(
                        target.client("events"),
                        archive_name=target.bus_archive_name,
                        bus_arn=target.bus_arn,
                        window=window,
                        replay_name=name,
                        rule_arns=rules,
                        dry_run=dry_run,
                        timeout_seconds=timeout,
                    )
            except ReplayError as exc:
                raise UsageError(str(exc)) from None
            target.settle()
            show_bus_summary(out, summary)
            return ExitCode.OK if summary.ok else ExitCode.ITEMS_FAILED
        if rules:
            raise UsageError("--rule applies to --from-bus-archive only")

        path = checkpoint or CHECKPOINT_DIR / f"{target.env}-{window.fingerprint()}.json"
        if not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
        s3, events = replay_clients(target, role_arn=role_arn, assume_role=assume_role)
        try:
            replayer = Replayer(
                s3=s3,
                events=events,
                bucket=target.archive_bucket,
                bus_name=target.bus_name,
                replay_source=replay_source(state.options.prefix),
                checkpoint=path,
                rate=rate,
                dry_run=dry_run,
            )
            with aws_errors():
                keys = replayer.objects(window)
                with out.progress("archive objects", total=len(keys)) as advance:
                    result = replayer.run(window, restart=restart, keys=keys, on_object=advance)
        except ReplayError as exc:
            raise UsageError(str(exc)) from None
        target.settle()
        show_summary(out, result)
        if not dry_run:
            # Finished: the same command replays afresh next time. (Interrupted, the checkpoint
            # stays and the same command resumes after it.)
            path.unlink(missing_ok=True)
        if not result.ok:
            out.note(
                "some events failed (above); running the same command again retries them "
                "(replaying what is stored creates nothing)"
            )
        return ExitCode.OK if result.ok else ExitCode.ITEMS_FAILED
