"""Hostile: grabs memory until something stops it, at import time."""
hog = []
while True:
    hog.append(bytearray(64 * 1024 * 1024))
