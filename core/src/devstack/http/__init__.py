"""The HTTP request pipeline: admission (methods, Host), CORS, rate limits, API keys and the
pipeline that runs them around every route.
"""
