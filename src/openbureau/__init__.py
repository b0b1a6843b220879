"""openbureau: an open-source credit bureau engine.

The pipeline runs in stages, one package each: ``synth`` (a synthetic population and its
furnisher files), ``ingest`` (source specs, readers, validation, quarantine), and the stages
that build on them. ``cli`` exposes one command per stage.
"""

__version__ = "0.1.0"
