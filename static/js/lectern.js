// Lectern's page script (no inline script: the CSP forbids it). Keyboard shortcuts, row selection,
// small conveniences. Everything works without it; it only makes things faster.
(function () {
  "use strict";

  function isTyping(target) {
    return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement || (target && target.isContentEditable);
  }

  function rows() { return Array.from(document.querySelectorAll("[data-row]")); }
  function selected() { return document.querySelector("[data-row].is-selected"); }

  let selectedId = "";

  function select(row) {
    const current = selected();
    if (current) current.classList.remove("is-selected");
    if (!row) return;
    selectedId = row.id;
    row.classList.add("is-selected");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(selected());
    const next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  // The scope a shortcut acts on: the selected row, else the item page.
  function scope() { return selected() || document.querySelector(".item-detail"); }

  function openTagInput() {
    const where = scope();
    if (!where) return false;
    const box = where.querySelector("details.tag-add");
    if (!box) return false;
    box.open = true;
    const input = box.querySelector("input.tag-input");
    if (input) input.focus();
    return true;
  }

  function focusNote() {
    const editor = document.getElementById("new-note");
    if (editor) { editor.focus(); editor.scrollIntoView({ block: "center" }); return true; }
    const row = selected();
    const link = row && row.querySelector("a.title");
    if (link) { window.location.href = link.getAttribute("href") + "#new-note"; return true; }
    return false;
  }

  function press(action) {
    const where = scope();
    const button = where && where.querySelector(`[data-action="${action}"]`);
    if (button) { button.click(); return true; }
    return false;
  }

  function toggleHelp() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      // Ctrl/Cmd+Enter submits a note editor.
      if (event.key === "Enter" && event.target instanceof HTMLTextAreaElement && event.target.form) {
        event.preventDefault();
        event.target.form.requestSubmit();
      }
      return;
    }
    const target = event.target;
    if (event.key === "Escape" && isTyping(target)) {
      const box = target.closest("details.tag-add");
      if (box) box.open = false;
      target.blur();
      return;
    }
    if (isTyping(target)) return;
    let handled = true;
    switch (event.key) {
      case "/": {
        const box = document.getElementById("search-input");
        if (box) { box.focus(); box.select(); } else handled = false;
        break;
      }
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter": {
        const row = selected();
        const link = row && row.querySelector("a.title");
        if (link) link.click(); else handled = false;
        break;
      }
      case "t": handled = openTagInput(); break;
      case "n": handled = focusNote(); break;
      case "r": handled = press("read"); break;
      case "s": handled = press("star"); break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const help = event.target.closest && event.target.closest("[data-shortcuts]");
    if (help) { toggleHelp(); return; }
    const row = event.target.closest && event.target.closest("[data-row]");
    if (row) select(row);
  });

  // A <select data-navigate> whose options are URLs (the sort menu) goes there.
  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-navigate") && el.value) {
      window.location.href = el.value;
    }
  });

  // Keep the selection across HTMX swaps of a row; focus the note editor when asked by #new-note.
  document.addEventListener("htmx:afterSettle", () => {
    if (selectedId && !selected()) {
      const row = document.getElementById(selectedId);
      if (row) row.classList.add("is-selected");
    }
  });
  // HTMX leaves error responses out; the search results and counts answer 503 with the message
  // "search is unavailable" in the fragment, to be shown in place of the results.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (event.detail.xhr.status === 503 && target && (target.id === "results" || target.id === "counts")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    if (window.location.hash === "#new-note") focusNote();
  });
})();
