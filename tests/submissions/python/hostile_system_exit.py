"""Hostile: raises SystemExit at import."""
import sys

print("bye")
sys.exit(3)
