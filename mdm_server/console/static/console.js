// Tabard console: the little the pages need beyond htmx. No inline script anywhere (the CSP
// forbids it); behaviour hangs off data attributes.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});
