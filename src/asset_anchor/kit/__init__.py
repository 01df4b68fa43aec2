"""Small shared primitives: time, money, identifiers. Imports nothing of ours."""
