"""Volumes: data that outlives containers.

Implements: spec/volumes.md (planned, issue 7)
Explained:  chapters/06-volumes.md
Modelled on: moby's volume/local driver

Named volumes live under <data-root>/volumes/<name>/_data and are bind-mounted
into containers; anonymous volumes are removed with `rm -v`. One reusable test
suite runs against every volume driver.

Nothing is public yet: this package is a place reserved for issue 7.
"""
