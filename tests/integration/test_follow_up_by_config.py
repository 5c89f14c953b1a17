"""A follow-up type added by configuration is both emitted and routed: end to end, locally.

The only change is data: one more rule in the dev environment's ``PersisterProps``. The stack
is synthesized from it, run on moto, and an event whose name ends with the new suffix must
come back as the new follow-up, in the queue the routing created for it.
"""

from __future__ import annotations

import dataclasses
import io
import json

from kahula_core.spec import FollowUpRule

from cdk_app.config import ENVIRONMENTS
from local.pipeline import LocalPipeline

RULE = FollowUpRule("ArchivedEvent", "ArchivableEvent")


def test_a_follow_up_type_added_by_config_reaches_its_own_queue(tmp_path, monkeypatch):
    # GIVEN dev with one more follow-up rule, and nothing else changed
    dev = ENVIRONMENTS["dev"]
    rules = (*dev.persister.follow_up_rules, RULE)
    persister = dataclasses.replace(dev.persister, follow_up_rules=rules)
    monkeypatch.setitem(ENVIRONMENTS, "dev", dataclasses.replace(dev, persister=persister))
    event = {"metadata": {"event_id": "doc-7"}, "document": "D-7"}
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        # WHEN an event named *ArchivedEvent is published and routed
        published = pipeline.publish(
            [
                {
                    "Source": "docs.service",
                    "DetailType": "DocumentArchivedEvent",
                    "Detail": json.dumps(event),
                }
            ]
        )
        pipeline.run()
        ledger = pipeline.account(published)
    # THEN its follow-up was emitted, stored, and delivered to the new type's own queue
    assert ledger.lost == []
    assert ledger.follow_ups == {"ArchivableEvent": 1}
    (message,) = ledger.follow_up_messages
    assert message["detail-type"] == "ArchivableEvent"
    assert message["detail"]["source_unique_id"] == "doc-7"
    (queue,) = [q for q, n in ledger.follow_ups_routed.items() if n]
    assert queue.endswith("-archivable")
