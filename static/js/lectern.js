// Lectern's small amount of page script (no inline script: the CSP forbids it).
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target.isContentEditable;
  if (event.key === "/" && !typing) {
    const box = document.getElementById("search-input");
    if (box) { event.preventDefault(); box.focus(); box.select(); }
  }
});
