"""Simulated cold-chain equipment, for validating alarm rules before go-live."""
