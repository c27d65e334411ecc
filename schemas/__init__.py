"""Shipped extraction schemas, one module each. Each module exposes its model as `SCHEMA`.

Field descriptions are part of the prompt: write them for the model as much as for people.
"""
