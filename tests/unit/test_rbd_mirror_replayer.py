"""The pure snapshot-mode replay core (rbd/mirror/replayer.py): states in, actions out."""
from rbd.constants import (
    MIRROR_IMAGE_STATUS_STATE_ERROR, MIRROR_IMAGE_STATUS_STATE_REPLAYING,
    MIRROR_IMAGE_STATUS_STATE_STOPPED, MIRROR_IMAGE_STATUS_STATE_SYNCING,
    MIRROR_IMAGE_STATUS_STATE_UNKNOWN, RBD_SNAP_MIRROR_STATE_NON_PRIMARY,
    RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED, RBD_SNAP_MIRROR_STATE_PRIMARY,
    RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED,
)
from rbd.mirror.replayer import plan

P, PD = RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED
NP, NPD = RBD_SNAP_MIRROR_STATE_NON_PRIMARY, RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED


def snap(i, state, complete=True, primary_snap_id=0):
    return {"id": i, "state": state, "complete": complete, "primary_snap_id": primary_snap_id,
            "primary_mirror_uuid": "", "last_copied_object_number": 0,
            "mirror_peer_uuids": []}


def view(mirror, user=()):
    return {"name": "i", "size": 1, "order": 22, "features": 1, "resync_requested": False,
            "mirror_snaps": list(mirror), "user_snaps": list(user)}


def test_bootstrap_creates_then_syncs_newest():
    remote = view([snap(3, P), snap(5, P)], [{"id": 4, "name": "u", "size": 1}])
    status, actions = plan(remote, None)
    assert status[0] == MIRROR_IMAGE_STATUS_STATE_SYNCING and actions == [("create_local",)]
    placeholder = view([snap(1, NP, complete=False)])
    status, actions = plan(remote, placeholder)
    assert actions == [("sync", None, 5, [4], NP), ("complete", 5)]


def test_incremental_one_snapshot_at_a_time_then_idle():
    remote = view([snap(3, P), snap(5, P), snap(7, P)])
    local = view([snap(2, NP, primary_snap_id=3)])
    _, actions = plan(remote, local)
    assert actions == [("sync", 3, 5, [], NP), ("complete", 5), ("unlink_peer", 3)]
    local = view([snap(2, NP, primary_snap_id=3), snap(4, NP, primary_snap_id=7)])
    status, actions = plan(remote, local)
    assert status[0] == MIRROR_IMAGE_STATUS_STATE_REPLAYING and actions == [("prune_local", [2])]


def test_incomplete_is_completed_and_demotion_carried():
    remote = view([snap(3, P), snap(5, PD)])
    local = view([snap(2, NP, primary_snap_id=3), snap(4, NPD, False, primary_snap_id=5)])
    assert plan(remote, local)[1] == [("complete", 5)]
    _, actions = plan(remote, view([snap(2, NP, primary_snap_id=3)]))
    assert actions[0] == ("sync", 3, 5, [], NPD)
    status, _ = plan(remote, view([snap(2, NP, primary_snap_id=3),
                                   snap(4, NPD, primary_snap_id=5)]))
    assert status == (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image demoted")


def test_primary_split_brain_and_failback():
    assert plan(view([snap(3, P)]), view([snap(9, P)]))[0] == (
        MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain")
    assert plan(view([snap(3, PD)]), view([snap(9, P)]))[0] == (
        MIRROR_IMAGE_STATUS_STATE_STOPPED, "local image is primary")
    # local demoted at 9; remote synced that (NPD of 9) and promoted at 11: failback works
    remote = view([snap(10, NPD, primary_snap_id=9), snap(11, P)])
    local = view([snap(9, PD)])
    assert plan(remote, local)[1][0] == ("sync", 10, 11, [], NP)
    # remote force-promoted without our demotion: split-brain
    assert plan(view([snap(10, NP, primary_snap_id=8), snap(11, P)]), local)[0][1] == \
        "split-brain"
    # local base no longer in the remote history
    assert plan(view([snap(12, P)]), view([snap(2, NP, primary_snap_id=3)]))[0][1] == \
        "split-brain"


def test_resync_and_missing_remote():
    local = dict(view([snap(2, NP, primary_snap_id=3)]), resync_requested=True)
    assert plan(view([snap(3, P)]), local)[1] == [("resync",)]
    assert plan(None, local)[0] == (MIRROR_IMAGE_STATUS_STATE_ERROR,
                                    "remote image does not exist")


def test_journal_plan():
    from rbd.mirror.replayer import journal_plan
    prim = {"owner": "", "demoted": False}
    nonp = {"owner": "remote-uuid", "demoted": False}
    assert journal_plan(prim, True, None, False, False, 0, None)[1] == [("bootstrap",)]
    assert journal_plan(prim, True, nonp, True, False, 3, 10)[1] == [("replay",)]
    st, acts = journal_plan(prim, True, nonp, True, False, 0, 10)
    assert st[0] == MIRROR_IMAGE_STATUS_STATE_REPLAYING and acts == []
    assert journal_plan(prim, True, prim, True, False, 0, None)[0][1] == "split-brain"
    assert journal_plan({"owner": "", "demoted": True}, True, nonp, True, False, 0, 5)[0] == (
        MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image demoted")
    demoted = {"owner": "", "demoted": True}
    assert journal_plan(dict(prim, promoted_cleanly=True), True, demoted, True, False, 0,
                        None)[1] == [("adopt",)]
    assert journal_plan(dict(prim, promoted_cleanly=False), True, demoted, True, False, 0,
                        None)[0][1] == "split-brain"
    assert journal_plan(prim, True, nonp, True, True, 0, 5)[1] == [("resync",)]
    assert journal_plan(None, False, nonp, True, False, 0, 5)[0][0] == \
        MIRROR_IMAGE_STATUS_STATE_ERROR
