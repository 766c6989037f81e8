"""Small, dependency-free building blocks (crypto, ids, clock). Imports nothing from the rest of app."""
