"""The performance model: measured points, SLO-feasible capacity, queueing, fitted curves, cross-model
correction, the analytic prior, and the one rule that decides which number wins."""
