"""`python cli.py ...`: the same program as `musicae ...` and `python -m musicae ...`."""

from musicae.entry import run

if __name__ == "__main__":
    run()
