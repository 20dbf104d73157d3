"""minidock.lab: the labs' skeletons and their grader (`minidock lab ...`).

Explained: labs/README.md
Spec:      spec/lab.md

    markers.py        the `# lab NN: begin` / `# lab NN: end` regions -> make_skeleton()
    catalog.py        labs/NN-topic/lab.toml -> Lab; Project says where things are
    workspace.py      `start` and `reset`: the student's copy of the package
    grader.py         `check`: pytest against the workspace, points per test
    grader_plugin.py  the pytest plugin the grader loads into that run
    cli.py            add_parser(subparsers) for the main CLI, and main()

The main CLI mounts the verbs with `minidock.lab.cli.add_parser(subparsers)`;
this module imports nothing at import time, so `minidock --version` stays quick.
"""
