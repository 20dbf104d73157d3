"""Image references, parsed and normalised as Docker's distribution/reference does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidock.errors import InvalidArgument
from minidock.images import reference
from minidock.images.reference import Reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.spec("IMG-REF-001", "IMG-REF-002")
@pytest.mark.parametrize("text, normalised, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("team/app:v1", "docker.io/team/app:v1", "team/app:v1"),
    ("team/sub/app", "docker.io/team/sub/app:latest", "team/sub/app:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/team/app@" + DIGEST, "localhost:5000/team/app@" + DIGEST,
     "localhost:5000/team/app@" + DIGEST),
    ("busybox:1.36@" + DIGEST, "docker.io/library/busybox:1.36@" + DIGEST, "busybox:1.36@" + DIGEST),
    ("ghcr.io/org/app:v1.2-rc_3", "ghcr.io/org/app:v1.2-rc_3", "ghcr.io/org/app:v1.2-rc_3"),
    ("192.168.1.10:5000/app", "192.168.1.10:5000/app:latest", "192.168.1.10:5000/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("team/a__b.c-----d", "docker.io/team/a__b.c-----d:latest", "team/a__b.c-----d:latest"),
    ("docker.io/my.team/app", "docker.io/my.team/app:latest", "docker.io/my.team/app:latest"),
    ("Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com/app:latest"),
])
def test_references_are_normalised_as_docker_does(text, normalised, familiar):
    parsed = reference.parse(text)
    assert str(parsed) == normalised == reference.normalize(text)
    assert parsed.familiar == familiar == reference.familiar(text)


@pytest.mark.spec("IMG-REF-001")
def test_the_parts_of_a_reference():
    parsed = reference.parse("localhost:5000/team/app:v2@" + DIGEST)
    assert parsed == Reference("localhost:5000", "team/app", "v2", DIGEST)
    assert parsed.name == "localhost:5000/team/app" == parsed.familiar_name
    assert reference.parse("busybox").familiar_name == "busybox"
    assert reference.parse("busybox").name == "docker.io/library/busybox"


@pytest.mark.spec("IMG-REF-002")
def test_a_digest_alone_gets_no_tag_and_latest_can_be_left_off():
    assert reference.parse("busybox@" + DIGEST).tag is None
    assert reference.parse("busybox", default_tag=False).tag is None
    assert reference.with_tag(reference.parse("busybox"), "1.36").familiar == "busybox:1.36"
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        reference.with_tag(reference.parse("busybox"), "-no")


@pytest.mark.spec("IMG-REF-003")
@pytest.mark.parametrize("text, message", [
    ("Busybox", "invalid reference format: repository name must be lowercase"),
    ("team/App:v1", "invalid reference format: repository name must be lowercase"),
    ("localhost:5000/App", "invalid reference format: repository name must be lowercase"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "a" * 40, "invalid reference format: invalid checksum digest length"),
    ("busybox@sha256:" + "A" * 64, "invalid reference format: invalid checksum digest format"),
    ("busybox@md5:" + "a" * 32, "invalid reference format: unsupported digest algorithm"),
    ("", "invalid reference format: repository name must have at least one component"),
    ("busybox:", "invalid reference format"),
    (":latest", "invalid reference format"),
    ("busy box", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox-", "invalid reference format"),
    ("a__b.c/app", "invalid reference format"),  # a dot makes it a domain, and domains have no _
    ("team//app", "invalid reference format"),
    ("busybox:-tag", "invalid reference format"),
    ("busybox:tag:again", "invalid reference format"),
    ("héllo", "invalid reference format"),
    ("a/" + "b" * 260, "invalid reference format: repository name must not be more than 255 characters"),
])
def test_invalid_references_are_refused_with_dockers_words(text, message):
    with pytest.raises(InvalidArgument) as error:
        reference.parse(text)
    assert error.value.message.startswith(message)


@pytest.mark.spec("IMG-REF-004")
def test_an_image_id_is_not_a_repository_name():
    with pytest.raises(InvalidArgument) as error:
        reference.parse("a" * 64)
    assert error.value.message == ("invalid repository name (" + "a" * 64 + "), "
                                   "cannot specify 64-byte hexadecimal strings")
    assert reference.parse("a" * 63).path == "library/" + "a" * 63
    assert reference.parse("team/" + "a" * 64).path == "team/" + "a" * 64


@pytest.mark.spec("IMG-REF-003")
def test_the_longest_tag_is_128_characters():
    assert reference.parse("busybox:" + "t" * 128).tag == "t" * 128


# -- properties ------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_component = st.builds(lambda parts, seps: "".join(p + s for p, s in zip(parts, seps)) + parts[-1],
                       st.lists(_alnum, min_size=1, max_size=3),
                       st.lists(st.sampled_from([".", "_", "__", "-", "--"]), min_size=3, max_size=3))
_domain = st.one_of(st.none(), st.sampled_from(["docker.io", "index.docker.io", "localhost",
                                                "localhost:5000", "ghcr.io", "registry.example.com:443",
                                                "10.0.0.1:5000", "[::1]:5000"]))
_tag = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
_digest = st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64).map(
    lambda hexadecimal: "sha256:" + hexadecimal))


@st.composite
def references(draw) -> str:
    domain, path = draw(_domain), "/".join(draw(st.lists(_component, min_size=1, max_size=3)))
    if domain is None and "/" in path and "." in path.split("/")[0]:
        domain = "docker.io"  # else the first component would be read as a (bad) domain
    tag, digest = draw(_tag), draw(_digest)
    return ((f"{domain}/" if domain else "") + path + (f":{tag}" if tag else "")
            + (f"@{digest}" if digest else ""))


@pytest.mark.spec("IMG-REF-005")
@settings(max_examples=300, deadline=None)
@given(references())
def test_normalising_is_idempotent_and_round_trips(text):
    parsed = reference.parse(text)
    assert reference.parse(str(parsed)) == parsed
    assert reference.normalize(reference.normalize(text)) == reference.normalize(text)
    # the familiar form names the same image
    assert reference.parse(parsed.familiar) == parsed


@pytest.mark.spec("IMG-REF-005")
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        parsed = reference.parse(text)
    except InvalidArgument:
        return
    assert reference.parse(str(parsed)) == parsed
