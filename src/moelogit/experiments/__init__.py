"""Experiments: simulations that check the method's claims, each from one command."""
