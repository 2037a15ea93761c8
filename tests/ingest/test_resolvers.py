from datetime import date

import pytest

from app.ingest.base import Capture, ResolveContext, ResolveError
from app.ingest.http import SafeClient
from app.ingest.registry import default_resolvers, identify_url, pick_resolver
from app.ingest.resolvers.arxiv import ArxivResolver
from app.ingest.resolvers.pdf import PdfResolver
from app.ingest.resolvers.tweet import TweetResolver, parse_oembed_html
from app.ingest.resolvers.web import WebResolver
from tests.fixtures.fakeweb import make_test_pdf, settings_for

TWEET = "https://x.com/karpathy/status/1886192184808149383"


@pytest.fixture
def resolve(fakeweb, tmp_path):
    """resolve(url, capture=None) as the pipeline does it: pick, identify, resolve."""
    settings = settings_for(fakeweb, tmp_path)
    clients = []

    def run(url, capture=None):
        resolver = pick_resolver(url, default_resolvers(settings))
        client = SafeClient(settings)
        clients.append(client)
        ctx = ResolveContext(
            url=url,
            identity=resolver.identify(url),
            settings=settings,
            http=client,
            capture=capture,
        )
        return resolver.name, resolver.resolve(ctx)

    yield run
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://arxiv.org/pdf/2502.09992v2", "arxiv"),
        ("https://huggingface.co/papers/2502.09992", "arxiv"),
        ("https://twitter.com/karpathy/status/1886192184808149383", "tweet"),
        ("https://example.org/files/paper.pdf", "pdf"),
        ("https://example.org/blog/post", "web"),
        ("10.1145/3600006.3613165", "doi"),
        ("https://openreview.net/forum?id=Cz9zjzyC5A", "openreview"),
    ],
)
def test_highest_score_wins(url, name):
    assert pick_resolver(url).name == name


def test_pick_resolver_refuses_what_is_not_a_web_address():
    with pytest.raises(ValueError, match="not a web address"):
        pick_resolver("javascript:alert(1)")


def test_identify_url_is_offline_and_knows_kinds():
    assert identify_url("https://arxiv.org/abs/2502.09992v2").kind == "paper"
    assert identify_url(TWEET).kind == "tweet"
    assert identify_url("https://doi.org/10.1145/3600006.3613165").doi == "10.1145/3600006.3613165"
    assert identify_url("https://example.org/").kind == "link"


def test_arxiv_paper_metadata_comes_from_the_atom_api(fakeweb, resolve):
    pdf = make_test_pdf(
        ["Abstract. 我们提出 LLaDA。" + " text" * 100], title="Large Language Diffusion Models"
    )
    fakeweb.add_arxiv_paper(
        "2502.09992",
        "Large Language Diffusion Models",
        ["Shen Nie", "Fengqi Zhu", "Zebin You"],
        "Autoregressive models (ARMs) are widely regarded as the cornerstone of large language models.",
        pdf,
        doi="10.48550/arXiv.2502.09992",
    )
    name, resolved = resolve("https://www.alphaxiv.org/abs/2502.09992v1")
    assert name == "arxiv"
    assert resolved.kind == "paper"
    assert resolved.title == "Large Language Diffusion Models"
    assert resolved.authors == ["Shen Nie", "Fengqi Zhu", "Zebin You"]
    assert resolved.abstract.startswith("Autoregressive models (ARMs)")
    assert resolved.arxiv_id == "2502.09992"
    assert resolved.doi == "10.48550/arxiv.2502.09992"
    assert resolved.published_at == date(2025, 2, 14)
    assert resolved.extra["categories"] == ["cs.CL", "cs.LG"]
    assert resolved.extra["primary_category"] == "cs.CL"
    assert resolved.pdf_url == fakeweb.url("/pdf/2502.09992")
    assert "/api/query?id_list=2502.09992&max_results=1" in fakeweb.paths_requested()


def test_arxiv_old_style_id(fakeweb, resolve):
    fakeweb.add_arxiv_paper("hep-th/9901001", "Old Style Paper", ["A. Author"], "An abstract.")
    _, resolved = resolve("arxiv.org/abs/hep-th/9901001v1")
    assert resolved.title == "Old Style Paper" and resolved.arxiv_id == "hep-th/9901001"


def test_unknown_arxiv_id_is_a_permanent_error(fakeweb, resolve):
    fakeweb.add_arxiv_paper("2502.09992", "T", ["A"], "B")
    with pytest.raises(ResolveError, match="arXiv has no paper 2501.00001") as caught:
        resolve("https://arxiv.org/abs/2501.00001")
    assert caught.value.transient is False


def test_arxiv_throttling_is_transient(fakeweb, resolve):
    fakeweb.add("/api/query", "Rate exceeded.", "text/plain")
    with pytest.raises(ResolveError, match="not a feed") as caught:
        resolve("https://arxiv.org/abs/2502.09992")
    assert caught.value.transient is True


def test_direct_pdf_link_returns_the_bytes(fakeweb, resolve):
    pdf = make_test_pdf(["body"], title="A Paper")
    url = fakeweb.add("/files/paper.pdf", pdf, "application/pdf")
    name, resolved = resolve(url)
    assert name == "pdf"
    assert resolved.kind == "paper" and resolved.pdf_bytes == pdf


def test_pdf_served_without_pdf_suffix_is_still_a_paper(fakeweb, resolve):
    pdf = make_test_pdf(["body"])
    url = fakeweb.add("/download?id=7", pdf, "application/octet-stream")
    name, resolved = resolve(url)
    assert name == "web"
    assert resolved.kind == "paper" and resolved.pdf_bytes == pdf


def test_tweet_from_capture_needs_no_fetch(fakeweb, resolve):
    capture = Capture(
        url=TWEET,
        text="LLaDA 很有意思：diffusion for language $p_\\theta(x)$ https://arxiv.org/abs/2502.09992",
        extra={
            "handle": "@karpathy",
            "date": "2025-02-15",
            "links": ["https://arxiv.org/abs/2502.09992"],
        },
    )
    name, resolved = resolve(TWEET, capture)
    assert name == "tweet"
    assert resolved.kind == "tweet"
    assert resolved.text.startswith("LLaDA 很有意思")
    assert resolved.extra["handle"] == "karpathy"
    assert resolved.extra["links"] == ["https://arxiv.org/abs/2502.09992"]
    assert resolved.published_at == date(2025, 2, 15)
    assert fakeweb.requests == []


def test_tweet_from_oembed(fakeweb, resolve):
    fakeweb.add_tweet_oembed(
        TWEET,
        'Reading the LLaDA paper.<br><br>Diffusion LMs scale! <a href="https://t.co/abc">https://t.co/abc</a>',
        "Andrej Karpathy",
        "karpathy",
        "February 15, 2025",
    )
    _, resolved = resolve("https://twitter.com/Karpathy/status/1886192184808149383?s=20")
    assert resolved.text == "Reading the LLaDA paper.\n\nDiffusion LMs scale! https://t.co/abc"
    assert resolved.authors == ["Andrej Karpathy"]
    assert resolved.extra["handle"] == "karpathy"
    assert resolved.published_at == date(2025, 2, 15)
    assert "needs_capture" not in resolved.extra


def test_tweet_without_capture_or_oembed_still_resolves_and_asks_for_a_capture(fakeweb, resolve):
    _, resolved = resolve(TWEET)  # the fake oEmbed endpoint answers 404
    assert resolved.kind == "tweet"
    assert resolved.extra["needs_capture"] is True
    assert resolved.extra["tweet_id"] == "1886192184808149383"
    assert "404" in resolved.extra["oembed_error"]


def test_oembed_html_parsing():
    tweet = parse_oembed_html(
        '<blockquote class="twitter-tweet"><p lang="zh" dir="ltr">扩散模型 &amp; LLMs</p>&mdash; 某人 (@someone) '
        '<a href="https://twitter.com/someone/status/1?ref_src=twsrc%5Etfw">March 1, 2025</a></blockquote>'
    )
    assert tweet == {
        "text": "扩散模型 & LLMs",
        "author_name": "某人",
        "handle": "someone",
        "date": "March 1, 2025",
        "links": [],
    }


BLOG_POST = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>读论文：LLaDA | 小明的博客</title>
<meta property="og:title" content="读论文：LLaDA 扩散语言模型">
<meta property="og:type" content="article">
<meta property="og:site_name" content="小明的博客">
<meta name="description" content="扩散模型也能做语言模型。">
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "BlogPosting",
 "headline": "读论文：LLaDA", "datePublished": "2025-02-20T08:00:00+08:00",
 "author": [{"@type": "Person", "name": "王小明"}]}</script>
</head><body>
<nav class="menu"><a href="/">首页</a><a href="/tags">标签</a></nav>
<article>
<h1>读论文：LLaDA 扩散语言模型</h1>
<p>LLaDA 用掩码扩散代替自回归：训练目标是 $\\mathcal{L}(\\theta) = -\\mathbb{E}_{t,x_0}[\\frac{1}{t}\\log p_\\theta(x_0 \\mid x_t)]$。</p>
<p>Inline math like \\(t \\sim U[0,1]\\) and display math \\[x_t = (1-t)x_0 + t\\,m\\] stays as TeX.</p>
<pre><code class="language-python">def mask(x, t):
    return [m if random() &lt; t else tok for tok in x]
</code></pre>
<p>结论：扩散模型在 8B 规模上可以与 LLaMA3 竞争。</p>
<div class="share">Share on X · 分享到微博</div>
</article>
<footer>© 2025 小明</footer>
</body></html>"""


def test_blog_post_keeps_tex_code_and_chinese(fakeweb, resolve):
    url = fakeweb.add("/2025/02/llada/", BLOG_POST)
    name, resolved = resolve(url)
    assert name == "web"
    assert resolved.kind == "post"
    assert resolved.title == "读论文：LLaDA 扩散语言模型"
    assert resolved.site == "小明的博客"
    assert resolved.authors == ["王小明"]
    assert resolved.published_at == date(2025, 2, 20)
    assert resolved.abstract == "扩散模型也能做语言模型。"
    text = resolved.text
    assert (
        "$\\mathcal{L}(\\theta) = -\\mathbb{E}_{t,x_0}[\\frac{1}{t}\\log p_\\theta(x_0 \\mid x_t)]$"
        in text
    )
    assert "\\(t \\sim U[0,1]\\)" in text and "\\[x_t = (1-t)x_0 + t\\,m\\]" in text
    assert "def mask(x, t):\n    return [m if random() < t else tok for tok in x]" in text
    assert "结论：扩散模型在 8B 规模上可以与 LLaMA3 竞争。" in text
    assert "首页" not in text and "Share on X" not in text and "© 2025" not in text


def test_gbk_encoded_page_is_decoded(fakeweb, resolve):
    page = '<html><head><meta charset="gbk"><title>中文标题</title></head><body><p>这是一段足够长的中文正文内容，用来测试编码。</p></body></html>'
    url = fakeweb.add("/gbk", page.encode("gbk"), "text/html")
    _, resolved = resolve(url)
    assert resolved.title == "中文标题"
    assert "这是一段足够长的中文正文内容" in resolved.text
    assert resolved.kind == "link"


def test_katex_rendered_math_turns_back_into_tex(fakeweb, resolve):
    page = (
        "<html><body><main><p>Energy: "
        '<span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>E</mi></mrow>'
        '<annotation encoding="application/x-tex">E = mc^2</annotation></semantics></math></span>'
        '<span class="katex-html" aria-hidden="true">E=mc2</span></span> holds.</p></main></body></html>'
    )
    url = fakeweb.add("/katex", page)
    _, resolved = resolve(url)
    assert resolved.text == "Energy: $E = mc^2$ holds."


def test_page_behind_a_login_uses_the_capture(fakeweb, resolve):
    capture = Capture(
        url="https://members.example.org/post/1",
        title="Members only",
        text="What the user saw. 用户看到的。",
    )
    name, resolved = resolve("https://members.example.org/post/1", capture)
    assert name == "web"
    assert resolved.title == "Members only" and resolved.text == "What the user saw. 用户看到的。"
    assert fakeweb.requests == []


def test_resolvers_implement_the_interface():
    for resolver in (ArxivResolver(), TweetResolver(), PdfResolver(), WebResolver()):
        assert resolver.name and callable(resolver.score) and callable(resolver.identify)
