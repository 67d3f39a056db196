"""The complex steerable pyramid and the phase signals it yields."""
