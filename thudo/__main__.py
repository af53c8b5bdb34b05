"""``python -m thudo`` runs the CLI."""

from thudo.cli import main

raise SystemExit(main())
