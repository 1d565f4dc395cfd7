/* Our own behaviour, kept small: everything works without it, this only improves it.
   No inline handlers anywhere (the Content-Security-Policy forbids them), so
   behaviour is attached here by data-* attributes. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /* The navigation toggle on narrow screens (the button stays hidden without JS,
     and the navigation is then simply always shown). */
  function setUpNavToggle() {
    var button = document.querySelector("[data-nav-toggle]");
    var nav = document.getElementById("site-nav");
    if (!button || !nav) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", String(!open));
      nav.classList.toggle("site-nav--open", !open);
    });
  }

  /* Close the user menu when clicking elsewhere or pressing Escape. */
  function setUpUserMenu() {
    var menu = document.querySelector(".user-menu");
    if (!menu) { return; }
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) { menu.open = false; }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  }

  /* When the server cannot be reached, say so in the message area instead of doing nothing. */
  function showMessage(text) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    var box = document.createElement("div");
    box.className = "alert alert--error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    flash.replaceChildren(box);
  }

  /* The text comes translated from the server, on #flash's data-send-error. */
  document.addEventListener("htmx:sendError", function () {
    var flash = document.getElementById("flash");
    showMessage(flash ? flash.getAttribute("data-send-error") : "");
  });

  /* Lists: the header checkbox selects every row of its table (delegated: tables are swapped by htmx). */
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) { return; }
    var form = box.closest("form");
    if (!form) { return; }
    form.querySelectorAll('input[type="checkbox"][name="ids"]').forEach(function (row) {
      row.checked = box.checked;
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUpNavToggle(); setUpUserMenu(); });
  } else {
    setUpNavToggle();
    setUpUserMenu();
  }
})();
