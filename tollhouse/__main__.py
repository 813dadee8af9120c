import sys

from tollhouse.cli import main

sys.exit(main())
