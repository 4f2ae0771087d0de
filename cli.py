"""`python cli.py ...`: the same program as `musicae ...` and `python -m musicae ...`."""

from musicae.cli import main

if __name__ == "__main__":
    main()
