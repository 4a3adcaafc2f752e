"""Hostile: os._exit(0) at import: the process vanishes without a word on the result channel."""
import os

os._exit(0)
