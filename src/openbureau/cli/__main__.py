"""``python -m openbureau.cli``: the ``openbureau`` command."""

from openbureau.cli import main

main()
