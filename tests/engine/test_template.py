"""Unit tests: the Go-template subset of `--format` (minidock/cli/template.py), no engine needed.

The expected strings are what Go's text/template with docker's functions prints for the
same data (checked with `docker inspect -f` and `docker ps --format`).
"""

from __future__ import annotations

import pytest

from minidock.cli.template import Template, TemplateError, render

DOCUMENT = {
    "Id": "4f1c",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "Pid": 42},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "<1>"}, "Cmd": ["sleep", "60"],
               "Entrypoint": None, "Tty": False},
    "Mounts": [],
    "Health": None,
    "Volumes": None,
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}}},
}


@pytest.mark.spec("ENGINE-CLI-015")
@pytest.mark.parametrize("text, expected", [
    ("{{.State.Status}}", "running"),
    ("{{.Id}} {{.Name}}", "4f1c /web"),
    ("{{.State.Pid}} {{.State.Running}} {{.Config.Tty}}", "42 true false"),
    ("{{.Config.Cmd}}", "[sleep 60]"),
    ("{{.Config.Labels}}", "map[a:<1> b:2]"),
    ("{{.Config.Entrypoint}}", "[]"),
    ("{{json .Config.Entrypoint}} {{len .Config.Entrypoint}}", "null 0"),
    ("{{.Health}} {{.Volumes}}", "<nil> map[]"),
    ("{{.State.Health}}", "<nil>"),  # left out of the JSON, but a field of docker's State
    ("{{if .Config.Entrypoint}}set{{else}}unset{{end}}", "unset"),
    ('{{index .Config.Labels "nothing"}}', "<no value>"),
    ("{{json .Config.Labels}}", '{"a":"\\u003c1\\u003e","b":"2"}'),
    ("{{.State}}", "{running true 0 42}"),
    ("{{json .Mounts}}", "[]"),
    ('{{index .Config.Labels "b"}}', "2"),
    ("{{index .Config.Env 1}}", "B=2"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{.State.Status | upper}} {{lower \"ABC\"}} {{title \"web\"}}", "RUNNING abc Web"),
    ("{{len .Config.Env}}", "2"),
    ('{{printf "%s:%d" .Name .State.Pid}}', "/web:42"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=<1>;b=2;"),
    ("{{range $name, $net := .NetworkSettings.Networks}}{{$name}} {{$net.IPAddress}}{{end}}", "bridge 10.0.0.2"),
    ("{{range .Mounts}}m{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ('{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{end}}', "R"),
    ("{{if and .State.Running (not .Config.Tty)}}yes{{end}}", "yes"),
    ("{{with .State}}{{.ExitCode}}{{end}}", "0"),
    ("{{with .Config.Entrypoint}}set{{else}}unset{{end}}", "unset"),
    ("a  {{- .Id -}}  b", "a4f1cb"),
    ("{{/* a comment */}}x", "x"),
    ("{{$.Id}}{{range .Config.Env}}{{$.Name}}{{end}}", "4f1c/web/web"),
    ("{{(index .Config.Cmd 0)}}", "sleep"),
    ("{{json .}}", '{"Id":"4f1c","Name":"/web","State":{"Status":"running","Running":true,"ExitCode":0,'
                   '"Pid":42},"Config":{"Env":["A=1","B=2"],"Labels":{"a":"\\u003c1\\u003e","b":"2"},'
                   '"Cmd":["sleep","60"],"Entrypoint":null,"Tty":false},"Mounts":[],'
                   '"Health":null,"Volumes":null,"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"10.0.0.2"}}}}'),
])
def test_templates_print_as_go_does(text, expected):
    assert render(text, DOCUMENT) == expected


@pytest.mark.spec("ENGINE-CLI-015")
def test_a_method_of_the_row_takes_arguments():
    row = {"Names": "web", "Label": lambda key: {"tier": "front"}.get(key, "")}
    assert render('{{.Names}} {{.Label "tier"}}{{.Label "none"}}', row) == "web front"


@pytest.mark.spec("ENGINE-CLI-015")
def test_a_template_is_parsed_once_and_run_on_many_rows():
    template = Template("{{.Names}}\t{{.State}}")
    assert [template.execute(row) for row in ({"Names": "a", "State": "running"},
                                               {"Names": "b", "State": "exited"})] == ["a\trunning", "b\texited"]


@pytest.mark.spec("ENGINE-CLI-015")
@pytest.mark.parametrize("text, words", [
    ("{{.Id", "unclosed action"),
    ("{{nosuch .Id}}", 'function "nosuch" not defined'),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .Id}}x", "unexpected EOF"),
    ("{{$nope}}", 'undefined variable "$nope"'),
])
def test_bad_templates_are_refused_with_gos_words(text, words):
    with pytest.raises(TemplateError, match=words.replace("$", "\\$").replace("{", "\\{").replace("}", "\\}")):
        render(text, DOCUMENT)


@pytest.mark.spec("ENGINE-CLI-015")
def test_a_missing_field_is_an_error_when_run():
    with pytest.raises(TemplateError, match="can't evaluate field X in type string"):
        render("{{.Id.X}}", DOCUMENT)
    with pytest.raises(TemplateError, match='executing "" at <.State.Nope>: map has no entry for key "Nope"'):
        render("{{.State.Nope}}", DOCUMENT)
