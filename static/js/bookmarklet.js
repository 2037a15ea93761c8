/*
 * Lectern's bookmarklet, readable source. The server replaces "__LECTERN_URL__" with its own
 * address, strips comments and indentation, and serves the result as a javascript: link
 * (app/services/capture.py). Keep it self-contained ES5-ish code with semicolons.
 *
 * It runs inside the page being saved, so it carries nothing secret: it opens Lectern's popup
 * (which the Lectern session cookie logs in) with the page's address and title, and answers the
 * popup's "ready" message with what the user sees on the page (selection, tweet or thread, text),
 * sent by postMessage to Lectern's origin only, never in a URL.
 */
(function () {
  "use strict";
  var LECTERN = "__LECTERN_URL__";
  var ORIGIN = new URL(LECTERN).origin;
  var MAX_HTML = 2000000;
  var MAX_TEXT = 500000;
  var TITLE_CHARS = 120;
  var loc = window.location;
  var host = loc.hostname.toLowerCase().replace(/^(www|mobile|m)\./, "");
  var isX = host === "x.com" || host === "twitter.com";

  function squash(text) {
    return String(text || "").replace(/\s+/g, " ").trim();
  }

  function shorten(text, limit) {
    var flat = squash(text);
    return flat.length <= limit ? flat : flat.slice(0, limit - 1).trim() + "\u2026";
  }

  function meta(name) {
    var node = document.querySelector('meta[name="' + name + '"], meta[property="' + name + '"]');
    return node ? squash(node.getAttribute("content")) : "";
  }

  function statusIdOf(href) {
    var match = /\/status(?:es)?\/(\d+)/.exec(href || "");
    return match ? match[1] : null;
  }

  /* X shows a link as its start plus "…"; the whole address is in the anchor's hidden spans. */
  function shownUrl(anchor) {
    var shown = String(anchor.textContent || "").replace(/\u2026$/, "").trim();
    return /^https?:\/\/\S+$/.test(shown) ? shown : "";
  }

  /* Text as the user reads it: emoji images by their alt text, line breaks, full link addresses. */
  function textOf(node) {
    var out = "";
    var children = node.childNodes;
    for (var i = 0; i < children.length; i++) {
      var child = children[i];
      if (child.nodeType === 3) {
        out += child.nodeValue;
      } else if (child.nodeType === 1) {
        var tag = child.tagName;
        if (tag === "IMG") {
          out += child.getAttribute("alt") || "";
        } else if (tag === "BR") {
          out += "\n";
        } else if (tag === "A" && shownUrl(child)) {
          out += shownUrl(child);
        } else if (tag !== "SCRIPT" && tag !== "STYLE") {
          out += textOf(child);
        }
      }
    }
    return out;
  }

  function linksIn(node) {
    var found = [];
    var anchors = node ? node.querySelectorAll("a[href]") : [];
    for (var i = 0; i < anchors.length; i++) {
      var href = shownUrl(anchors[i]) || anchors[i].href;
      var own = anchors[i].hostname.replace(/^www\./, "") === loc.hostname.replace(/^www\./, "");
      if (/^https?:/.test(href) && (!own || statusIdOf(href)) && found.indexOf(href) < 0) {
        found.push(href);
      }
    }
    return found;
  }

  /* One tweet: article[data-testid="tweet"] holds div[data-testid="User-Name"] (display name,
     "@handle" and, except on the focused tweet, the time link), div[data-testid="tweetText"] and
     time[datetime] inside the link to its own status. A quoted tweet repeats these inside it. */
  function tweetOf(article, pageStatusId) {
    var nameBox = article.querySelector('[data-testid="User-Name"]');
    var handle = "";
    var name = "";
    if (nameBox) {
      var spans = nameBox.querySelectorAll("span");
      for (var i = 0; i < spans.length && !handle; i++) {
        var candidate = squash(spans[i].textContent);
        if (/^@\w{1,50}$/.test(candidate)) {
          handle = candidate.slice(1);
        }
      }
      var first = nameBox.querySelector("a") || nameBox;
      name = squash(textOf(first)).replace(/\s*@\w+.*$/, "");
    }
    var time = nameBox ? nameBox.querySelector("time[datetime]") : null;
    var id = time && time.closest("a") ? statusIdOf(time.closest("a").getAttribute("href")) : null;
    if (!time && pageStatusId) {
      var times = article.querySelectorAll("time[datetime]");
      for (var j = 0; j < times.length; j++) {
        var link = times[j].closest("a");
        if (link && statusIdOf(link.getAttribute("href")) === pageStatusId) {
          time = times[j];
          id = pageStatusId;
        }
      }
    }
    var texts = article.querySelectorAll('[data-testid="tweetText"]');
    var quoted = texts.length > 1 ? textOf(texts[1]).trim() : "";
    return {
      id: id,
      handle: handle,
      name: name,
      date: time ? time.getAttribute("datetime") : "",
      text: texts.length ? textOf(texts[0]).trim() : "",
      quoted: quoted,
      links: linksIn(texts[0])
    };
  }

  /* The tweet this status page is about, with the rest of its thread: the tweets just above and
     below it by the same author. */
  function captureTweets(selectionNode) {
    var articles = document.querySelectorAll('article[data-testid="tweet"]');
    if (!articles.length) {
      return null;
    }
    var pageStatusId = statusIdOf(loc.pathname);
    var tweets = [];
    var focus = -1;
    for (var i = 0; i < articles.length; i++) {
      tweets.push(tweetOf(articles[i], pageStatusId));
      if (selectionNode && articles[i].contains(selectionNode) && !pageStatusId) {
        focus = i;
      }
      if (focus < 0 && pageStatusId && tweets[i].id === pageStatusId) {
        focus = i;
      }
    }
    if (focus < 0) {
      if (pageStatusId) {
        focus = 0;
      } else {
        return null;
      }
    }
    var author = tweets[focus].handle.toLowerCase();
    var start = focus;
    var end = focus;
    while (start > 0 && author && tweets[start - 1].handle.toLowerCase() === author) {
      start--;
    }
    while (end + 1 < tweets.length && author && tweets[end + 1].handle.toLowerCase() === author) {
      end++;
    }
    var thread = tweets.slice(start, end + 1);
    var parts = [];
    var links = [];
    for (var k = 0; k < thread.length; k++) {
      var part = thread[k].text;
      if (thread[k].quoted) {
        part += "\n\n> " + thread[k].quoted.split("\n").join("\n> ");
      }
      parts.push(part);
      for (var m = 0; m < thread[k].links.length; m++) {
        if (links.indexOf(thread[k].links[m]) < 0) {
          links.push(thread[k].links[m]);
        }
      }
    }
    var focused = tweets[focus];
    var text = parts.join("\n\n");
    var url = pageStatusId ? loc.href : "https://x.com/" + focused.handle + "/status/" + focused.id;
    return {
      url: url,
      title: shorten(text, TITLE_CHARS),
      kind: "tweet",
      text: text.slice(0, MAX_TEXT),
      extra: {
        handle: focused.handle,
        author_name: focused.name,
        date: thread[0].date || focused.date,
        links: links,
        tweets: thread.map(function (t) {
          return { id: t.id, date: t.date, text: t.text };
        }),
        thread: thread.length > 1
      }
    };
  }

  function guessKind() {
    var path = loc.pathname.toLowerCase();
    if (isX && statusIdOf(path)) {
      return "tweet";
    }
    if (/(^|\.)(arxiv\.org|alphaxiv\.org|openreview\.net|doi\.org)$/.test(host) ||
        (host === "huggingface.co" && path.indexOf("/papers/") === 0) ||
        /\.pdf$/.test(path) || document.contentType === "application/pdf" ||
        meta("citation_title")) {
      return "paper";
    }
    if (meta("og:type") === "article" || meta("article:published_time") ||
        document.querySelector("article")) {
      return "post";
    }
    return "link";
  }

  /* The page as the user sees it, for pages Lectern cannot fetch itself (behind a login): without
     scripts, styles, media, and the page's own hidden form values (its CSRF tokens and the like). */
  function pageHtml() {
    var clone = document.documentElement.cloneNode(true);
    var drop = clone.querySelectorAll(
      "script, style, noscript, template, iframe, object, embed, svg, canvas, video, audio, " +
      "link, input[type=hidden], input[type=password], meta[name*=csrf], meta[name*=token]"
    );
    for (var i = 0; i < drop.length; i++) {
      drop[i].parentNode.removeChild(drop[i]);
    }
    var markup = "<!DOCTYPE html>\n" + clone.outerHTML;
    return markup.length <= MAX_HTML ? markup : "";
  }

  function capture() {
    var selected = window.getSelection ? window.getSelection() : null;
    var selection = selected ? String(selected.toString()).trim() : "";
    var anchorNode = selected && selected.rangeCount ? selected.anchorNode : null;
    var kind = guessKind();
    var data = {
      url: loc.href,
      title: meta("citation_title") || meta("og:title") || squash(document.title),
      kind: kind,
      selection: selection.slice(0, MAX_TEXT),
      text: "",
      html: "",
      extra: {}
    };
    if (isX) {
      var tweet = captureTweets(anchorNode);
      if (tweet) {
        data.url = tweet.url;
        data.title = tweet.title;
        data.kind = tweet.kind;
        data.text = tweet.text;
        data.extra = tweet.extra;
      }
    } else if (kind !== "paper" && document.body) {
      data.text = String(document.body.innerText || "").slice(0, MAX_TEXT);
      data.html = pageHtml();
    }
    return data;
  }

  var data = capture();
  var popup = null;

  function onMessage(event) {
    if (!popup || event.source !== popup || event.origin !== ORIGIN || !event.data) {
      return;
    }
    if (event.data.type === "lectern:ready") {
      popup.postMessage({ type: "lectern:capture", capture: data }, ORIGIN);
    } else if (event.data.type === "lectern:done") {
      window.removeEventListener("message", onMessage);
    }
  }

  window.addEventListener("message", onMessage);
  /* Only the address and the guessed kind travel in the popup's URL; the title (on X it is the
     tweet's text), the selection and the captured text follow by postMessage. */
  var query = "url=" + encodeURIComponent(data.url) + "&kind=" + encodeURIComponent(data.kind);
  popup = window.open(LECTERN + "capture/popup?" + query, "lectern-capture",
    "popup,width=560,height=700");
  if (!popup) {
    window.removeEventListener("message", onMessage);
    window.alert("Lectern could not open its window: allow pop-ups for this site and try again.");
    return;
  }
  window.setTimeout(function () {
    window.removeEventListener("message", onMessage);
  }, 30 * 60 * 1000);
})();
