"""``python -m vidpose.cli`` (and ``torchrun -m vidpose.cli train ...``) runs the ``vidpose`` command."""

from . import main

main()
