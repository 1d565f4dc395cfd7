/* The pipeline board: drag a card to another column to move the record (ui/pages/board.py).
   A drop POSTs /records/{entity}/{id}/move with the target stage and the card's version
   (CSRF token in the header). Success: the card and every column's totals come back
   re-rendered. Refusal (422 requirements missing, 409 changed meanwhile): the card goes
   back where it was and the server's message is shown in #flash. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function putBack(card, from, index) {
    var anchor = from.children[index] || null;
    if (anchor === card) { return; }
    from.insertBefore(card, anchor);
  }

  function showFlash(html) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    var doc = new DOMParser().parseFromString(html, "text/html");
    flash.replaceChildren.apply(flash, Array.prototype.slice.call(doc.body.childNodes));
  }

  function applyResult(card, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector("[data-card]");
    if (fresh) { card.replaceWith(document.importNode(fresh, true)); } else { card.remove(); }
    doc.querySelectorAll("[data-totals]").forEach(function (totals) {
      var here = document.querySelector('[data-totals="' + totals.getAttribute("data-totals") + '"]');
      if (here) { here.replaceWith(document.importNode(totals, true)); }
    });
    var flash = document.getElementById("flash");
    if (flash) { flash.replaceChildren(); }
  }

  function onDrop(event, board) {
    var card = event.item;
    var from = event.from;
    var to = event.to;
    if (from === to) { return; }
    var body = new URLSearchParams();
    body.set("stage", to.getAttribute("data-stage"));
    body.set("version", card.getAttribute("data-version"));
    body.set("state", board.getAttribute("data-state") || "");
    card.classList.add("board-card--busy");
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": csrfToken(), "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded"},
      body: body.toString()
    }).then(function (response) {
      return response.text().then(function (text) {
        card.classList.remove("board-card--busy");
        if (response.ok) {
          applyResult(card, text);
        } else {
          putBack(card, from, event.oldIndex);
          showFlash(text);
        }
      });
    }).catch(function () {
      card.classList.remove("board-card--busy");
      putBack(card, from, event.oldIndex);
      var flash = document.getElementById("flash");
      showFlash("<div class=\"alert alert--error\" role=\"alert\"></div>");
      if (flash && flash.firstChild) { flash.firstChild.textContent = flash.getAttribute("data-send-error"); }
    });
  }

  function setUp() {
    var board = document.querySelector("[data-board]");
    if (!board || typeof Sortable === "undefined") { return; }
    board.querySelectorAll(".board-column__cards").forEach(function (list) {
      Sortable.create(list, {
        group: "board",
        draggable: "[data-card]",
        animation: 120,
        // Pointer events instead of native HTML5 drag and drop: the same on every browser and touch screen.
        forceFallback: true,
        onEnd: function (event) { onDrop(event, board); }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
}());
