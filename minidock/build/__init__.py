"""Build: Dockerfiles into images.

Implements: spec/build.md (planned, issue 9)
Explained:  chapters/08-build.md
Modelled on: the classic docker builder (one container per RUN, one layer per step)

parse(dockerfile) -> instructions and plan(instructions, context) -> steps are
pure; the executor runs RUN steps in containers and commits their diffs.

Nothing is public yet: this package is a place reserved for issue 9.
"""
