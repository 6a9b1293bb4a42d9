"""rbd-mirror for rayceph.

    image_state.py  what an image's MIRROR-namespace snapshots say (pure)
    store.py        the pool's `rbd_mirroring` omap object and mon config-keys
    journal.py      the image journal (journal mode): events, tags, client positions, trim
    replayer.py     the pure replay cores of both modes: state in, actions out
    runner.py       executes the replayer's actions with two rados clients
    daemon.py       the replicator: a loop over pools and peers, run as the Ray actor
                    `<cluster>.rbd-mirror`
    cli.py          `rayceph mirror start -c CONF`
"""
