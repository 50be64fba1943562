"""The collector settings a sync step runs with."""

from __future__ import annotations

import gc

from metadata_pipelines.garbage_collection import fewer_collections


def test_fewer_collections_freezes_and_restores_the_collector():
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()

    with fewer_collections():
        inside = gc.get_threshold()
        assert gc.get_freeze_count() > frozen_before
        with fewer_collections():  # re-entrant: the inner block changes nothing
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside

    assert inside[0] > before[0]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before
