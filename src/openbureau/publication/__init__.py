"""Publication: the serving copy of a score snapshot, built from the warehouse.

``publish_snapshot`` writes a read-only copy of what the service reads and points
``serving/CURRENT`` at it; ``republish`` publishes a snapshot again with the identity tables
as they are now (after a forced split). Each publication is recorded in the warehouse's
``publications`` (``served_links`` reads it). The service reads the copies
(``service.serving``), and signs its audit log's head at each publication.
"""

from openbureau.publication._copy import (
    AGED_OFF_TABLE,
    POINTER,
    SERVING_DIR,
    publish_snapshot,
    republish,
    served_links,
    snapshot_card,
)

__all__ = [
    "AGED_OFF_TABLE",
    "POINTER",
    "SERVING_DIR",
    "publish_snapshot",
    "republish",
    "served_links",
    "snapshot_card",
]
