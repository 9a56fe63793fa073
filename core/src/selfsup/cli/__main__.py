"""``python -m selfsup.cli ...``: the same as the ``selfsup`` console script."""

from selfsup.cli import main

raise SystemExit(main())
