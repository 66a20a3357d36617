"""The five-element formulation: data model, expression language, checks, compilation."""
