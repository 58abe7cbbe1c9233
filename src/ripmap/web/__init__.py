"""The local web page of a map: ``ripmap serve`` and the page ``ripmap --format html`` exports.

* :mod:`.guard`: who may talk to the server (loopback by default, the Host / Origin checks);
* :mod:`.service`: the JSON API's answers over a warm :class:`~ripmap.api.RepoMapPool`;
* :mod:`.runs`: the training runs under the served root, read defensively;
* :mod:`.server`: HTTP (Starlette on uvicorn) and the ``serve`` entry;
* ``static/``: the page (markup, script, styles) and the vendored Cytoscape.js with its
  licence (``scripts/vendor_web_assets.py`` fetches it; nothing comes from a CDN).

The page's data views live in :mod:`ripmap.render.html`, shared with the static export.
"""
