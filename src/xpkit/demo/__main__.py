"""``python -m xpkit.demo``: write the demo data (see ``xpkit.demo``)."""

import sys

from xpkit.demo.generate import main

sys.exit(main())
