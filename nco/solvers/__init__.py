"""The solvers behind one interface: a registry of names and the typed result every solve returns."""
