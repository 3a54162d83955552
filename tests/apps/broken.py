"""An application that fails to import (the boot-failure test)."""

raise ImportError("this application is broken on purpose (tests/apps/broken.py)")
