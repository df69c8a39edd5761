"""A built-in simulator of the Seam API subset this app uses, with dormakaba Oracode semantics.

The demo and the tests have no Seam account and no internet; the app's real client talks to
this over HTTP on loopback instead. It runs as its own process (``python -m simulator``) or
in-process (``SimulatorServer``).

It is what the app is tested against, so it shares no code with the app: it imports nothing
from the app (``locks``, ``codes``, ``properties``, ``front``, ``config``) or Django, and reads
slot times with its own parser (``slots.py``) rather than the app's ``locks/timeslots.py``.
"""
