/* The configuration editor: an error's line button moves the caret to that line of the YAML.
   The error list is replaced by htmx as the admin types, so clicks are caught on the document. */
(function () {
  "use strict";

  function offsetOfLine(text, line, column) {
    var offset = 0;
    for (var current = 1; current < line; current++) {
      var next = text.indexOf("\n", offset);
      if (next === -1) { return text.length; }
      offset = next + 1;
    }
    var end = text.indexOf("\n", offset);
    var lineEnd = end === -1 ? text.length : end;
    return Math.min(offset + Math.max(0, (column || 1) - 1), lineEnd);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-line]") : null;
    var editor = document.querySelector("[data-config-text]");
    if (!button || !editor) { return; }
    var line = parseInt(button.getAttribute("data-line"), 10) || 1;
    var column = parseInt(button.getAttribute("data-column"), 10) || 1;
    var at = offsetOfLine(editor.value, line, column);
    editor.focus();
    editor.setSelectionRange(at, at);
    /* Scroll the line into view: lines are of equal height in the monospace textarea. */
    var lineHeight = parseFloat(window.getComputedStyle(editor).lineHeight) || 18;
    editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
  });
})();
