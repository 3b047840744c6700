"""cinlab's own assets, installed as the package ``cinlab.assets`` (see pyproject.toml's package-dir).

``images.csv`` (the image registry), ``models/`` (the shipped networks) and ``results/`` (their
training logs and summary). Code reaches them through :mod:`cinlab.config` and :mod:`cinlab.shipped`,
never through a path relative to the checkout; this file only makes the folder a package.
"""
