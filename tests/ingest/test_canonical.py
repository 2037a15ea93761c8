import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest.canonical import canonicalize_url, parse_reference
from app.ingest.registry import identify_url

SAME_ARXIV_PAPER = [
    "https://arxiv.org/abs/2502.09992",
    "http://arxiv.org/abs/2502.09992v2",
    "https://export.arxiv.org/pdf/2502.09992v1.pdf",
    "https://www.arxiv.org/pdf/2502.09992",
    "arXiv:2502.09992v3",
    "2502.09992",
    "https://www.alphaxiv.org/abs/2502.09992",
    "https://huggingface.co/papers/2502.09992",
    "https://arxiv.org/abs/2502.09992?context=cs.CL#abstract",
]


def test_every_form_of_one_arxiv_paper_is_one_identity():
    identities = {
        (i.canonical_url, i.arxiv_id, i.kind) for i in map(identify_url, SAME_ARXIV_PAPER)
    }
    assert identities == {("https://arxiv.org/abs/2502.09992", "2502.09992", "paper")}


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("arxiv.org/abs/hep-th/9901001v2", "https://arxiv.org/abs/hep-th/9901001"),
        ("https://arxiv.org/abs/math.GT/0309136", "https://arxiv.org/abs/math/0309136"),
        ("10.1145/3600006.3613165", "https://doi.org/10.1145/3600006.3613165"),
        ("https://dx.doi.org/10.1145/3600006.3613165", "https://doi.org/10.1145/3600006.3613165"),
        ("doi:10.1000/ABC.Def", "https://doi.org/10.1000/abc.def"),
        (
            "https://twitter.com/Karpathy/status/1886192184808149383?s=20&t=abc",
            "https://x.com/karpathy/status/1886192184808149383",
        ),
        (
            "https://mobile.twitter.com/karpathy/status/1886192184808149383/photo/1",
            "https://x.com/karpathy/status/1886192184808149383",
        ),
        (
            "https://x.com/i/web/status/1886192184808149383",
            "https://x.com/i/status/1886192184808149383",
        ),
        (
            "HTTP://Example.COM:80/Blog/?utm_source=x&id=3&fbclid=1&gclid=2#frag",
            "https://example.com/Blog?id=3",
        ),
        ("https://example.com/post/?ref=hn&ref_src=twsrc", "https://example.com/post"),
        ("https://example.com:443", "https://example.com/"),
        ("http://127.0.0.1:8080/post/", "http://127.0.0.1:8080/post"),
        ("www.example.com/a b", None),
        (
            "https://blog.example.cn/读论文?q=扩散",
            "https://blog.example.cn/%E8%AF%BB%E8%AE%BA%E6%96%87?q=%E6%89%A9%E6%95%A3",
        ),
    ],
)
def test_canonical_forms(raw, canonical):
    if canonical is None:
        with pytest.raises(ValueError, match="not a web address"):
            canonicalize_url(raw)
    else:
        assert canonicalize_url(raw) == canonical


def test_bare_ids_carry_their_ids():
    assert parse_reference("arXiv:2502.09992v3").arxiv_version == 3
    assert parse_reference("10.1145/3600006.3613165").doi == "10.1145/3600006.3613165"


def test_tweet_identity_is_the_status_id_whatever_the_handle_spelling():
    a = identify_url("https://twitter.com/Karpathy/status/1886192184808149383")
    b = identify_url("https://x.com/i/web/status/1886192184808149383")
    assert a.kind == b.kind == "tweet"
    assert a.tweet_id == b.tweet_id == "1886192184808149383"


@pytest.mark.parametrize(
    "junk",
    ["file:///etc/passwd", "gopher://example.org/", "javascript:alert(1)", "mailto:a@b.org", "ftp://x.org/f",
     "", "   ", "hello world", "http://", "https://exa mple.com/", "data:text/html,hi"],
)  # fmt: skip
def test_what_is_not_a_web_address_is_refused_clearly(junk):
    with pytest.raises(ValueError, match="not a web address"):
        canonicalize_url(junk)


def test_other_schemes_say_only_http_is_saved():
    with pytest.raises(ValueError, match="only http and https"):
        canonicalize_url("file:///etc/passwd")


url_like = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}://{host}/{path}?{query}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "file"]),
        st.sampled_from(
            [
                "arxiv.org",
                "X.com",
                "twitter.com",
                "doi.org",
                "example.com:8080",
                "[::1]",
                "例子.cn",
                "",
            ]
        ),
        st.text(max_size=30),
        st.text(max_size=30),
    ),
    st.builds(
        lambda i, v: f"https://arxiv.org/abs/{i}{v}",
        st.from_regex(r"\d{4}\.\d{4,5}", fullmatch=True),
        st.sampled_from(["", "v1", "v12", ".pdf"]),
    ),  # fmt: skip
)


@settings(max_examples=400, deadline=None)
@given(url_like)
def test_canonicalize_is_idempotent_and_only_raises_value_error(raw):
    try:
        once = canonicalize_url(raw)
    except ValueError:
        return
    assert canonicalize_url(once) == once
