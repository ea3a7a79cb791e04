"""Numeric cores of the detectors (numpy / scipy, vectorised), with no modelyard types in them."""
