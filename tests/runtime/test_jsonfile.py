"""minidock.jsonfile: json's answers through json's C scanner and encoder, without importing json."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minidock import jsonfile

REPOSITORY = Path(__file__).resolve().parents[2]

GOOD = [
    '{"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", "echo \\"hi\\""], "terminal": false}}',
    '  [1, -2, 3.5, 1e3, -0.0, true, false, null, "", "\\u00e9\\ud83d\\ude00", {}]\n\t',
    '"just a string"', "42", "null", '{"a": {"b": {"c": [[], [{}]]}}}',
    '{"big": 123456789012345678901234567890, "dup": 1, "dup": 2}',
    '{"e": "é 中 \\n \\t \\\\ \\/"}',
]
BAD = ["", "   ", "{", '{"a" 1}', "[1, 2,]", "{'a': 1}", '{"a": 1} x', "[1] [2]", "tru", '"\x01"', "nul",
       '{"a": NaN', "01"]


@pytest.mark.spec("RT-CLI-005")
@pytest.mark.parametrize("text", GOOD)
def test_good_text_reads_as_json_reads_it(text):
    assert repr(jsonfile.loads(text)) == repr(json.loads(text))
    assert repr(jsonfile.load(io.StringIO(text))) == repr(json.loads(text))


@pytest.mark.spec("RT-CLI-005")
def test_the_constants_json_allows_are_read():
    value = jsonfile.loads('[NaN, Infinity, -Infinity]')
    assert math.isnan(value[0]) and value[1:] == [math.inf, -math.inf]


@pytest.mark.spec("RT-CLI-005", "RT-CFG-001")
@pytest.mark.parametrize("text", BAD)
def test_bad_text_fails_with_jsons_own_error(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        jsonfile.loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)  # the message, line and column json gives


@pytest.mark.spec("RT-CLI-005")
@pytest.mark.parametrize("value", [
    {"id": "c1", "status": "running", "pid": 42, "exit_code": None, "oom_killed": False},
    ["é", "\n", 1.5, -3, [], {}, {"nested": [True, None]}], "text", 0, None,
])
def test_values_are_written_as_json_dumps_writes_them(value):
    assert jsonfile.dumps(value) == json.dumps(value)
    file = io.StringIO()
    jsonfile.dump(value, file)
    assert json.loads(file.getvalue()) == value


@pytest.mark.spec("RT-CLI-005")
def test_a_value_json_cannot_write_is_refused_in_jsons_words():
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsonfile.dumps({"a": {1}})


@pytest.mark.spec("RT-CLI-005")
def test_good_text_never_imports_json():
    probe = (f"import sys; sys.path.append({str(REPOSITORY)!r}); from minidock import jsonfile;"
             "v = jsonfile.loads('{\"a\": [1, 2.5, null]}'); s = jsonfile.dumps(v);"
             "print(s, 'json' in sys.modules, 're' in sys.modules)")
    unmeasured = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                         env=unmeasured, check=True).stdout
    assert out.strip() == '{"a": [1, 2.5, null]} False False'
