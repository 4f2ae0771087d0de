"""The studio (``musicae serve``): a local page to sample, blend and hear models, its JSON API.
An ASGI app (app.py) over the library's api/handle calls (workshop.py), guarded and bounded."""
