"""Fakes for tests: real servers on loopback ports that speak a source's protocol."""
