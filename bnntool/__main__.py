"""``python -m bnntool`` runs the command-line interface."""

from bnntool.cli import main

if __name__ == "__main__":
    main()
