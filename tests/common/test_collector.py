"""The garbage collector paused around a FHIR Bundle, and left as it was found."""

from __future__ import annotations

import gc
import sys

from hm_core.common.collector import collector_paused


def test_the_collector_is_off_inside_and_on_again_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_turns_it_back_on():
    try:
        with collector_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_a_collector_already_off_stays_off_for_its_owner():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_started_process_freezes_what_it_holds_and_a_full_collection_skips_it():
    from hm_core.common.collector import freeze_after_startup

    try:
        frozen = freeze_after_startup()
        # then every API module is imported (the URLconf) and all it holds is frozen
        assert "hm_core.fhir.api" in sys.modules
        # (a frozen object is still freed when its last reference goes, and another thread of
        # this test process may drop a few: the count may fall a little, never grow)
        assert frozen > 10_000 and frozen * 0.99 <= gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
