"""Visma Enterprise `fakturering_ws`: the one adapter that knows the SOAP contract.

Swapping our contract for the one Visma delivers touches this package only.
"""
