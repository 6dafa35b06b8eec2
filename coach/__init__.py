"""Webcam exercise coach for people with foot drop.

The pure core (angles, filters, counting, feedback, exercise definitions) has
no camera, model or UI dependency; `coach.pose`, `coach.video`, `coach.cli`
and `coach.ui` are the thin adapters around it. See docs/architecture.md.
"""

__version__ = "0.1.0"
