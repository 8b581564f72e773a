import os
import sys

# Lets tests import the shared fixture writers (tests/ is not a package).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
