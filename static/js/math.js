// Renders LaTeX the server marked (<span class="math">TeX</span>) with KaTeX: trust off, size limits.
(function () {
  "use strict";
  const OPTIONS = { throwOnError: false, trust: false, strict: "ignore", maxSize: 20, maxExpand: 500, output: "htmlAndMathml" };

  function renderMath(root) {
    if (!window.katex || !root || !root.querySelectorAll) return;
    const spans = root.matches && root.matches("span.math") ? [root] : root.querySelectorAll("span.math:not([data-rendered])");
    spans.forEach((el) => {
      if (el.dataset.rendered) return;
      const tex = el.textContent;
      try {
        window.katex.render(tex, el, { ...OPTIONS, displayMode: el.classList.contains("math-display") });
        el.dataset.rendered = "1";
      } catch (err) {
        el.textContent = tex;  // leave the source readable
        el.dataset.rendered = "error";
        el.title = String(err && err.message || err);
      }
    });
  }

  window.lecternRenderMath = renderMath;
  document.addEventListener("DOMContentLoaded", () => renderMath(document.body));
  document.addEventListener("htmx:load", (event) => renderMath(event.detail && event.detail.elt));
  document.addEventListener("htmx:afterSwap", (event) => renderMath(event.detail && event.detail.target));
})();
