"""``python -m cteimpact`` runs the command line."""

import sys

from cteimpact.cli.app import main

sys.exit(main())
