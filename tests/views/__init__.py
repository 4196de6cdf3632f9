"""Tests of views/."""
