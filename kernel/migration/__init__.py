"""Migration: protocol negotiation, phase sequences, the migration cookie, URIs and parameters."""
