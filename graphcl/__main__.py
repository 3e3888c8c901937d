r"""``python -m graphcl`` is the ``graphcl`` command (what ``torchrun -m graphcl`` starts)."""

from graphcl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
