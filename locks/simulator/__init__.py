"""A built-in simulator of the Seam API subset this app uses, with dormakaba Oracode semantics.

The demo and the tests have no Seam account and no internet; the app's real client talks to
this over HTTP on loopback instead. It has no Django imports, so it runs as its own process
(``python -m locks.simulator``) or in-process (``SimulatorServer``).
"""
