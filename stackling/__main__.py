import sys

from stackling.cli import main

sys.exit(main())
