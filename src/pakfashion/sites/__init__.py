"""Adding and checking retailers: ``python -m pakfashion.sites add URL`` and ``python -m pakfashion.sites check``.

``add`` probes a new site politely (robots.txt, then the platform, as a crawl would start), writes
``conf/site/<name>.yaml`` with what it found, appends the name to a profile's ``crawl.sites`` and recomposes
``params.yaml`` as ``make params`` does; ``check`` probes every configured site again and prints a table.
Neither crawls products nor leaves state behind (each probe has a throw-away frontier).

- :mod:`pakfashion.sites.probe`: one site's probe (:func:`probe_site`) and the table of probes.
- :mod:`pakfashion.sites.files`: the site's name and file, the profile's site list, params.yaml.
- :mod:`pakfashion.sites.__main__`: the command line.
"""
