// Rules page behaviour (the CSP forbids inline script):
//   #sw-rule-search        search as you type: the result table is fetched and replaced
//   [data-threshold-kind]  shows the fields of a threshold or of a suppression
"use strict";
(function () {
  function onReady(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  function wireSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      var name = box.getAttribute("data-select-all");
      box.addEventListener("change", function () {
        root.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
  }
  function wireSearch(form) {
    var results = document.getElementById("sw-rule-results");
    var timer = null;
    var seq = 0;
    function run() {
      var params = new URLSearchParams(new FormData(form));
      var query = params.toString();
      var mine = ++seq;
      params.set("fragment", "1");
      fetch(form.getAttribute("data-fragment-url") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null || mine !== seq) { return; }
          results.innerHTML = html;  // our own server-rendered, escaped HTML
          if (window.spanwatch) { window.spanwatch.wire(results); }
          wireSelectAll(results);
          history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
        });
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 150); });
    form.addEventListener("change", function () { clearTimeout(timer); run(); });
    form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  }
  function wireThresholdForm(select) {
    var form = select.form;
    function sync() {
      form.querySelectorAll("[data-for-kind]").forEach(function (el) {
        var show = el.getAttribute("data-for-kind") === select.value;
        el.classList.toggle("d-none", !show);
        if (el.tagName === "OPTION") { el.disabled = !show; }
      });
      var track = form.querySelector("select[name=track]");
      if (track && track.selectedOptions.length && track.selectedOptions[0].disabled) { track.value = "by_src"; }
    }
    select.addEventListener("change", sync);
    sync();
  }
  onReady(function () {
    var form = document.getElementById("sw-rule-search");
    if (form) { wireSearch(form); }
    wireSelectAll(document);
    document.querySelectorAll("[data-threshold-kind]").forEach(wireThresholdForm);
  });
})();
