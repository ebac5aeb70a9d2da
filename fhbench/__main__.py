"""`python -m fhbench`: the same command as `fhbench`."""

from fhbench.cli import entry

if __name__ == "__main__":
    entry()
