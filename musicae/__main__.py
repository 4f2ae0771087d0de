"""`python -m musicae ...` (and `torchrun ... -m musicae train ...`): the command line."""

from musicae.entry import run

run()
