// Small behaviours that would otherwise sit in inline attributes, which the
// Content-Security-Policy forbids (docs/security.md). Each is switched on by a data attribute.
"use strict";

// <form data-confirm="Question?">: ask before sending; Cancel sends nothing.
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }
});

// <select data-autosubmit>: choosing an option sends its form (the municipality switch).
document.addEventListener("change", function (event) {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.dataset.autosubmit !== undefined && field.form) {
    field.form.submit();
  }
});

// <input data-select-on-click>: one click selects the whole value (a new API key, to copy).
document.addEventListener("click", function (event) {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.dataset.selectOnClick !== undefined) {
    field.select();
  }
});

// <details class="navmenu">: the header's menu closes when one clicks elsewhere or presses Escape.
function closeMenus(except) {
  document.querySelectorAll("details.navmenu[open]").forEach(function (menu) {
    if (menu !== except) {
      menu.removeAttribute("open");
    }
  });
}
document.addEventListener("click", function (event) {
  const target = event.target;
  closeMenus(target instanceof Element ? target.closest("details.navmenu") : null);
});
document.addEventListener("keydown", function (event) {
  if (event.key === "Escape") {
    closeMenus(null);
  }
});
