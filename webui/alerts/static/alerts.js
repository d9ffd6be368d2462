// Alert list behaviour (the CSP forbids inline script):
//   <input type="checkbox" data-select-all="ids">  ticks every checkbox named "ids"
//   #sw-bulk-action                                 shows the title or reason box it needs
"use strict";
(function () {
  function onReady(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  onReady(function () {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      var name = box.getAttribute("data-select-all");
      box.addEventListener("change", function () {
        document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
    var action = document.getElementById("sw-bulk-action");
    if (action) {
      var title = document.getElementById("sw-bulk-title");
      var reason = document.getElementById("sw-bulk-reason");
      var sync = function () {
        if (title) { title.classList.toggle("d-none", action.value !== "escalate"); }
        if (reason) { reason.classList.toggle("d-none", action.value !== "false-positive"); }
      };
      action.addEventListener("change", sync);
      sync();
    }
  });
})();
