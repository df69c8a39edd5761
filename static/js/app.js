// Copy a PIN to the clipboard: buttons carry it in data-copy (only after an audited reveal).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed: select the PIN";
  }
});
