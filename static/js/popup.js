// The capture popup the bookmarklet opens (a static file: the CSP allows no inline script).
//
// The page that opened this window (window.opener) holds what the user sees: the selection, a
// tweet or thread, the page's text. This window asks for it with a "ready" message and accepts
// an answer only from that opener. Nothing is sent back except "ready" and "done".
(function () {
  "use strict";

  const form = document.getElementById("capture-form");
  const opener = window.opener;

  function setValue(id, value) {
    const field = document.getElementById(id);
    if (field && typeof value === "string") {
      field.value = value;
    }
  }

  function summarize(capture) {
    const summary = document.getElementById("capture-summary");
    if (!summary) {
      return;
    }
    const extra = capture.extra || {};
    if (capture.kind === "tweet" && extra.handle) {
      const count = Array.isArray(extra.tweets) ? extra.tweets.length : 1;
      summary.textContent = (count > 1 ? `A thread of ${count} posts` : "A post") + ` by @${extra.handle}` +
        (extra.date ? ` (${String(extra.date).slice(0, 10)})` : "") + " was captured from the page.";
    } else if (capture.text) {
      summary.textContent = `The page's text (${capture.text.length.toLocaleString()} characters) was captured, ` +
        "for pages Lectern cannot fetch itself.";
    }
  }

  function fill(capture) {
    if (!capture || typeof capture !== "object") {
      return;
    }
    const url = document.getElementById("capture-url");
    if (typeof capture.url === "string" && /^https?:\/\//.test(capture.url) && url) {
      url.value = capture.url;
    }
    const title = document.getElementById("capture-title");
    if (title && !title.value && typeof capture.title === "string") {
      title.value = capture.title.slice(0, 1000);
    }
    const kind = document.getElementById("capture-kind");
    if (kind && typeof capture.kind === "string" &&
        [...kind.options].some((option) => option.value === capture.kind)) {
      // The server's guess from the address (a paper, a tweet) stands; the page's own guess
      // only refines a plain link.
      if (kind.value === "link" || capture.kind === "tweet") {
        kind.value = capture.kind;
      }
    }
    const selection = document.getElementById("capture-selection");
    if (selection && !selection.value && typeof capture.selection === "string") {
      selection.value = capture.selection;
    }
    setValue("capture-text", capture.text);
    setValue("capture-html", capture.html);
    if (capture.extra && typeof capture.extra === "object") {
      setValue("capture-extra", JSON.stringify(capture.extra));
    }
    summarize(capture);
    form.dataset.captured = "true";
  }

  if (form) {
    let received = false;
    window.addEventListener("message", (event) => {
      if (!opener || event.source !== opener || received) {
        return;
      }
      const data = event.data;
      if (!data || data.type !== "lectern:capture") {
        return;
      }
      received = true;
      fill(data.capture);
    });
    if (opener) {
      // The opener listens before it opens this window, so one "ready" suffices; a few more
      // cover a slow page. The message carries nothing.
      let tries = 0;
      const ask = () => {
        if (received || tries++ >= 20) {
          return;
        }
        try {
          opener.postMessage({ type: "lectern:ready" }, "*");
        } catch (error) {
          return; // the opener went away
        }
        window.setTimeout(ask, 250);
      };
      ask();
    }
    form.addEventListener("submit", () => {
      const button = document.getElementById("capture-save");
      if (button) {
        window.setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }

  const result = document.querySelector("[data-close-after]");
  if (opener) {
    try {
      if (document.getElementById("capture-result")) {
        opener.postMessage({ type: "lectern:done" }, "*");
      }
    } catch (error) {
      // the opener went away: nothing to tell it
    }
  }
  if (result && opener) {
    window.setTimeout(() => window.close(), Number(result.dataset.closeAfter) || 1200);
  }
})();
