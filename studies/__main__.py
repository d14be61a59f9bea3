"""``python -m studies``: the studies' command line (:mod:`studies.cli`)."""

from studies.cli import main

if __name__ == "__main__":
    main(prog_name="python -m studies")
