import pytest

from app.ingest.http import AddressRefused, FetchError, SafeClient, system_resolver
from tests.fixtures.fakeweb import settings_for


def fake_dns(answers):
    def resolve(host, port):
        if host in answers:
            return answers[host]
        return system_resolver(host, port)

    return resolve


@pytest.fixture
def client(fakeweb, tmp_path):
    with SafeClient(settings_for(fakeweb, tmp_path)) as c:
        yield c


def test_allowed_local_server_is_fetched(fakeweb, client):
    fakeweb.add("/hello", "你好, world", "text/plain; charset=utf-8")
    result = client.get(fakeweb.url("/hello"))
    assert (result.status, result.content_type, result.text) == (200, "text/plain", "你好, world")


def test_loopback_is_refused_without_the_allow_list(fakeweb, tmp_path):
    fakeweb.add("/hello", "hi")
    with SafeClient(settings_for(fakeweb, tmp_path, fetch_allow_hosts=[])) as client:
        with pytest.raises(AddressRefused, match="127.0.0.1: a loopback address") as caught:
            client.get(fakeweb.url("/hello"))
    assert caught.value.transient is False
    assert fakeweb.requests == []


def test_name_resolving_to_loopback_is_refused_even_with_127_allowed(fakeweb, tmp_path):
    fakeweb.add("/paper.pdf", b"%PDF-1.7", "application/pdf")
    resolver = fake_dns({"papers.example.org": ["127.0.0.1"]})
    with SafeClient(settings_for(fakeweb, tmp_path), resolver=resolver) as client:
        with pytest.raises(
            AddressRefused, match="papers.example.org: it resolves to 127.0.0.1, a loopback"
        ):
            client.get(f"http://papers.example.org:{fakeweb.port}/paper.pdf")
    assert fakeweb.requests == []


def test_allow_list_entry_by_name_lets_the_name_through(fakeweb, tmp_path):
    fakeweb.add("/x", "intranet")
    resolver = fake_dns({"wiki.lab.internal": ["127.0.0.1"]})
    settings = settings_for(fakeweb, tmp_path, fetch_allow_hosts=["Wiki.Lab.Internal"])
    with SafeClient(settings, resolver=resolver) as client:
        assert client.get(f"http://wiki.lab.internal:{fakeweb.port}/x").text == "intranet"
    assert fakeweb.requests[0].headers["Host"] == f"wiki.lab.internal:{fakeweb.port}"


def test_redirect_to_cloud_metadata_is_refused(fakeweb, client):
    fakeweb.redirect("/go", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(AddressRefused, match="169.254.169.254: a link-local address"):
        client.get(fakeweb.url("/go"))


def test_redirect_to_a_name_resolving_to_a_private_address_is_refused(fakeweb, tmp_path):
    fakeweb.redirect("/go", "http://router.example.net/admin")
    resolver = fake_dns({"router.example.net": ["192.168.0.1"]})
    with SafeClient(settings_for(fakeweb, tmp_path), resolver=resolver) as client:
        with pytest.raises(AddressRefused, match="192.168.0.1, a private-network address"):
            client.get(fakeweb.url("/go"))


def test_redirects_are_followed_and_reported(fakeweb, client):
    fakeweb.redirect("/a", "/b", 301)
    fakeweb.redirect("/b", fakeweb.url("/c"), 307)
    fakeweb.add("/c", "done")
    result = client.get(fakeweb.url("/a"))
    assert result.text == "done"
    assert result.url == fakeweb.url("/c")
    assert len(result.redirects) == 2


def test_redirect_loop_stops(fakeweb, client):
    fakeweb.redirect("/loop", "/loop")
    with pytest.raises(FetchError, match="too many redirects"):
        client.get(fakeweb.url("/loop"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.org/x"]
)
def test_other_schemes_are_refused(client, url):
    with pytest.raises(AddressRefused, match="only http and https"):
        client.get(url)


def test_redirect_to_file_scheme_is_refused(fakeweb, client):
    fakeweb.redirect("/go", "file:///etc/passwd")
    with pytest.raises(AddressRefused, match="only http and https"):
        client.get(fakeweb.url("/go"))


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "[::1]", "0.0.0.0"],
)
def test_odd_spellings_of_loopback_are_refused(fakeweb, client, host):
    fakeweb.add("/x", "secret")
    # httpx itself rejects some spellings as invalid URLs (0177.0.0.1); refused either way.
    with pytest.raises(FetchError, match="refused to fetch from|not a web address"):
        client.get(f"http://{host}:{fakeweb.port}/x")
    assert fakeweb.requests == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [("10.1.2.3", "private"), ("172.16.0.1", "private"), ("100.64.0.1", "carrier-grade NAT"),
     ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("fe80::1", "link-local"), ("fc00::1", "private"),
     ("::ffff:169.254.169.254", "link-local")],
)  # fmt: skip
def test_non_public_addresses_are_refused(tmp_path, fakeweb, address, reason):
    resolver = fake_dns({"host.example.org": [address]})
    with SafeClient(settings_for(fakeweb, tmp_path), resolver=resolver) as client:
        with pytest.raises(AddressRefused, match=reason):
            client.get("http://host.example.org/")


def test_byte_cap_is_enforced_while_streaming(fakeweb, tmp_path):
    fakeweb.add("/big", b"x" * 300_000, "application/octet-stream", chunked=True)
    with SafeClient(settings_for(fakeweb, tmp_path, fetch_max_bytes=100_000)) as client:
        with pytest.raises(FetchError, match="larger than the 100,000 byte limit") as caught:
            client.get(fakeweb.url("/big"))
    assert caught.value.transient is False


def test_byte_cap_applies_to_the_decompressed_body(fakeweb, tmp_path):
    fakeweb.add("/bomb", b"\0" * 5_000_000, "text/html", gzip=True)
    with SafeClient(settings_for(fakeweb, tmp_path, fetch_max_bytes=100_000)) as client:
        with pytest.raises(FetchError, match="larger than"):
            client.get(fakeweb.url("/bomb"))


def test_gzip_body_is_decoded(fakeweb, client):
    fakeweb.add("/gz", "<p>压缩</p>" * 100, gzip=True)
    assert client.get(fakeweb.url("/gz")).text == "<p>压缩</p>" * 100


def test_404_is_permanent_and_500_transient(fakeweb, client):
    fakeweb.add("/err", "oops", status=503)
    with pytest.raises(FetchError, match=r"answered 404 Not Found") as missing:
        client.get(fakeweb.url("/missing"))
    assert missing.value.transient is False
    with pytest.raises(FetchError, match=r"answered 503 Service Unavailable") as down:
        client.get(fakeweb.url("/err"))
    assert down.value.transient is True


def test_timeout_is_transient(fakeweb, tmp_path):
    fakeweb.add("/slow", "late", delay=2.0)
    with SafeClient(settings_for(fakeweb, tmp_path, fetch_timeout=0.3)) as client:
        with pytest.raises(FetchError, match="did not answer within 0.3 s") as caught:
            client.get(fakeweb.url("/slow"))
    assert caught.value.transient is True


def test_connection_refused_is_transient(tmp_path, fakeweb):
    from tests.fixtures.services import free_port

    with SafeClient(settings_for(fakeweb, tmp_path)) as client:
        with pytest.raises(FetchError, match="connection refused") as caught:
            client.get(f"http://127.0.0.1:{free_port()}/")
    assert caught.value.transient is True
