"""Hostile: an infinite loop at import time (never defines anything)."""
x = 0
while True:
    x += 1
