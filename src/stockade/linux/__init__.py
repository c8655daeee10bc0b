"""Thin wrappers over Linux system calls shared by more than one subsystem."""
