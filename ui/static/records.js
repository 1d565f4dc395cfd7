/* Record forms: small keyboard improvements (everything works without this file).
   Loaded by form.html only; no inline handlers (the CSP forbids them). */
(function () {
  "use strict";

  /* Enter in a picker's search box picks nothing and submits nothing: it moves to the
     first option, so typing a name and pressing Enter never saves a half-filled form. */
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("input[data-picker-search]")) { return; }
    event.preventDefault();
    var options = document.getElementById(input.getAttribute("aria-controls"));
    var first = options && options.querySelector("input[type=radio]");
    if (first) { first.focus(); }
  });
})();
