// A button's new words; its accessible name ("Copy PIN for Ana Souza") says them too.
function say(button, words) {
  const label = button.getAttribute("aria-label");
  if (label) button.setAttribute("aria-label", label.replace(button.textContent, words));
  button.textContent = words;
}

// Copy a PIN to the clipboard: buttons carry it in data-copy (only after an audited reveal).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    say(button, "Copied");
  } catch {
    say(button, "Copy failed: select the PIN");
  }
});

// A form with data-refresh-on asks the server for its dependent fields again when one of the
// fields it names changes (hx-trigger="refresh-choices"). Done here rather than with an htmx
// trigger filter, which htmx evaluates as code: the Content-Security-Policy forbids that.
document.addEventListener("change", (event) => {
  const form = event.target.closest("[data-refresh-on]");
  if (form && event.target.matches(form.dataset.refreshOn)) {
    htmx.trigger(form, "refresh-choices");
  }
});

// htmx replaces a code's cell whole, and screen readers do not announce a region that is
// replaced: when the state a cell announces changes, it is said in the page's lasting live region.
document.addEventListener("htmx:beforeSwap", (event) => {
  const old = event.detail.target;
  if (!old.matches || !old.matches(".code-cell")) return;
  const page = new DOMParser().parseFromString(event.detail.serverResponse, "text/html");
  const incoming = page.querySelector(".code-cell");
  if (incoming && incoming.dataset.announce !== old.dataset.announce) {
    document.getElementById("announcer").textContent = incoming.dataset.announce;
  }
});
