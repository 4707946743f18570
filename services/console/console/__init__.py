"""The merchant console (issue 18): staff sign in here; pages over the services' public APIs."""
