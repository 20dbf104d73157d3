"""Build: Dockerfiles into images, as Docker's classic builder builds them.

Implements: spec/build.md
Explained:  chapters/08-build.md
Modelled on: the classic docker builder (one container per RUN, one layer per step)

    dockerfile.py   parse(text) -> Dockerfile: directives, ARGs before FROM, stages   (pure)
    shellwords.py   expand_word / expand_words: $VAR, ${VAR:-x}, quotes, escapes      (pure)
    ignore.py       Ignore.parse(.dockerignore).excluded(path)                        (pure)
    builder.py      Builder(backend, context, options, emit).build(dockerfile) -> image ID

The engine's side (the context, the backend that runs RUN steps in containers and
stores layers, the POST /build route) is minidock/engine/build.py and api/build.py.
"""
