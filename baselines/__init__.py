"""Competing estimators. They reach fhbench only through its public API and register through the
``fhbench.estimators`` entry points, exactly as a third-party package would; the core never imports
this package."""
