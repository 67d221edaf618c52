"""Foundation: what every layer shares and which imports no other part of devstack: the error
envelope, the core settings and their error messages, the masking policy, the request
context, single-flight.
"""
