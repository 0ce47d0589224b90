"""Independent references for the ILP placer (issue 4, item 6).

Nothing here imports the placer, ``majula_model.perf.capacity`` or ``majula_model.hardware.geometry``: every expected value
is recomputed from the measurement records and the catalog's placement table, so a shared bug cannot make a
test pass.
"""
