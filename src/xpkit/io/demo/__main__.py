"""``python -m xpkit.io.demo``: write the demo data (see ``xpkit.io.demo``)."""

import sys

from xpkit.io.demo.generate import main

sys.exit(main())
