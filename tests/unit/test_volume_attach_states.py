"""The attach/detach status machine as pure functions (reference 5.2–5.4)."""

from __future__ import annotations

import pytest

from stackling.volume import errors
from stackling.volume.objects import attach_states as st


def test_reserve_for_attachment():
    assert st.reserve_for_attachment("v", "available", False, [], "s1") == "reserved"
    assert st.reserve_for_attachment("v", "downloading", False, [], "s1") == "reserved"
    assert st.reserve_for_attachment("v", "in-use", True, ["s1"], "s2") == "reserved"
    assert st.reserve_for_attachment("v", "in-use", False, ["s1"], "s1") is None
    assert st.reserve_for_attachment("v", "reserved", False, ["s1"], "s1") is None
    with pytest.raises(errors.InvalidVolume) as err:
        st.reserve_for_attachment("v", "in-use", False, ["s1"], "s2")
    assert err.value.message == ("Invalid volume: Volume v status must be available or "
                                 "downloading to reserve, but the current status is in-use.")
    with pytest.raises(errors.InvalidVolume) as err:
        st.reserve_for_attachment("v", "attaching", True, [], None)
    assert "must be available or in-use or downloading to reserve" in err.value.message


def test_error_states_refused():
    for status in ("error", "error_extending", "error_restoring"):
        with pytest.raises(errors.InvalidVolume):
            st.attachment_create_check("v", status)
    st.attachment_create_check("v", "available")


@pytest.mark.parametrize("remaining, expected", [
    ([], ("available", "detached")),
    (["reserved"], ("reserved", "reserved")),
    (["attaching", "reserved"], ("attaching", "attaching")),
    (["reserved", "attached"], ("in-use", "attached")),
    (["detaching"], ("detaching", "detaching")),
    (["error_attaching"], ("available", "detached")),
])
def test_statuses_from_attachments(remaining, expected):
    assert st.statuses_from_attachments(remaining) == expected


def test_after_detach_keeps_status_while_migrating():
    assert st.after_detach("in-use", None, []) == {"attach_status": "detached",
                                                   "status": "available"}
    assert st.after_detach("in-use", "migrating", []) == {"attach_status": "detached"}
    assert st.after_detach("uploading", None, []) == {"attach_status": "detached"}


def test_legacy_transitions():
    assert st.legacy_reserve("available", False) == "attaching"
    assert st.legacy_reserve("in-use", True) == "attaching"
    with pytest.raises(errors.InvalidVolume) as err:
        st.legacy_reserve("in-use", False)
    assert err.value.message == ("Invalid volume: Volume status must be available to "
                                 "reserve, but the status is in-use.")
    assert st.legacy_unreserve("attaching", False) == "available"
    assert st.legacy_unreserve("attaching", True) == "in-use"
    assert st.legacy_unreserve("available", False) is None
    assert st.begin_detaching("in-use", "attached", None) == "detaching"
    with pytest.raises(errors.InvalidVolume):
        st.begin_detaching("available", "detached", None)
    assert st.roll_detaching("detaching") == "in-use"
    assert st.roll_detaching("available") is None
    with pytest.raises(errors.InvalidVolume) as err:
        st.legacy_attach_manager_check("in-use", False, None, None, "rw")
    assert "multiple attachments are not enabled" in err.value.message
    st.legacy_attach_manager_check("in-use", True, None, None, "rw")
    with pytest.raises(errors.InvalidVolumeAttachMode):
        st.legacy_attach_api_check("v", "available", "rw", readonly=True)
