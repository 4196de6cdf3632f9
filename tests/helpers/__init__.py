"""Shared test helpers: post factories, clocked cores, synthetic demo communities, network wrappers."""
