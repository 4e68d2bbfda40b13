"""``python -m ssl_kd`` is the ``ssl-kd`` command (also under ``torchrun``)."""

import sys

from ssl_kd.cli import main

sys.exit(main())
