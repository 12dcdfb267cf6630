"""Imported last by the check workers' fork server, after every preloaded module: moves what those imports
allocated into the garbage collector's permanent generation.

Forked workers share the server's memory pages until one is written. A collection in a worker walks every tracked
object and writes to each object header it visits, so without this every worker soon holds its own copy of the pages
that hold Sentinel's and the client libraries' modules. Frozen objects are never visited, and their pages stay shared.
"""

from __future__ import annotations

import gc

gc.collect()
gc.freeze()
