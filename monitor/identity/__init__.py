"""People and roles: user accounts kept in the store, their passwords, sessions and API
tokens, and the one role matrix that says who may do what."""
