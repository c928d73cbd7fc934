"""JSON Schemas for typed parameters and the domain XML schema, shipped as virtkernel.schemas."""
