"""eventsourcing 9.5's own AggregateRecorder conformance suite, run against the adapter on moto."""

from __future__ import annotations

import os
import unittest
from typing import Any

import boto3
from eventsourcing.persistence import AggregateRecorder
from eventsourcing.tests.persistence import AggregateRecorderTestCase
from kahula_core.aggregates.client import AggregateStore
from kahula_core.aggregates.eventsourcing_recorder import DynamoDBAggregateRecorder
from moto import mock_aws

from .conftest import REGION, TABLE, create_table

_CREDENTIALS = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


class TestDynamoDBAggregateRecorder(AggregateRecorderTestCase):
    def setUp(self) -> None:
        self._saved = {k: os.environ.get(k) for k in (*_CREDENTIALS, "AWS_ENDPOINT_URL")}
        os.environ.update(_CREDENTIALS)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock: Any = mock_aws()
        self._mock.start()
        self.client = boto3.client("dynamodb", region_name=REGION)
        create_table(self.client)

    def tearDown(self) -> None:
        self._mock.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def create_recorder(self) -> AggregateRecorder:
        return DynamoDBAggregateRecorder(AggregateStore(table_name=TABLE, dynamodb=self.client))

    @unittest.skip(
        "timing of moto in-process, not of DynamoDB: the figure means nothing; "
        "bench/ measures appends per second instead"
    )
    def test_performance(self) -> None:
        super().test_performance()


del AggregateRecorderTestCase  # keep pytest from collecting the abstract suite itself
