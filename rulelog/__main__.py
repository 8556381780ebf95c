"""``python -m rulelog``: the same command line as the ``rulelog`` script."""

from rulelog.api.cli import main

if __name__ == "__main__":
    main(prog_name="rulelog")
