"""rbd-mirror for rayceph.

    image_state.py  what an image's MIRROR-namespace snapshots say (pure)
    store.py        the pool's `rbd_mirroring` omap object and mon config-keys
    replayer.py     the pure snapshot-mode replay core: state in, actions out
    runner.py       executes the replayer's actions with two rados clients
    daemon.py       the Ray actor that runs the runner periodically
    cli.py          `rayceph mirror start -c CONF`
"""
