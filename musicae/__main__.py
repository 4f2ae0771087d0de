"""`python -m musicae ...` (and `torchrun ... -m musicae train ...`): the command line."""

from musicae.cli import main

main(prog_name="musicae")
