// spanwatch UI behaviour, wired by data-* attributes (the CSP forbids inline script).
//   <form data-confirm="Question?">      asks before submitting
//   <select data-autosubmit>              submits its form on change
//   <button data-copy="#id">              copies the value/text of #id
//   <div data-width="42">                 sets style.width to 42% (progress bars)
//   <canvas data-chart="#json-id">        a Chart.js chart from a JSON config in
//                                         <script type="application/json" id="json-id">
"use strict";
(function () {
  function onReady(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  function wire(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    root.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) { el.form.requestSubmit(); } });
    });
    root.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var target = document.querySelector(btn.getAttribute("data-copy"));
        if (!target) { return; }
        var text = "value" in target ? target.value : target.textContent;
        if (navigator.clipboard) { navigator.clipboard.writeText(text); }
        else if (target.select) { target.select(); document.execCommand("copy"); }
        btn.classList.add("sw-copied");
      });
    });
    root.querySelectorAll("[data-width]").forEach(function (el) {
      var pct = Math.max(0, Math.min(100, parseFloat(el.getAttribute("data-width")) || 0));
      el.style.width = pct + "%";
    });
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.querySelector(canvas.getAttribute("data-chart"));
      if (!source || typeof window.Chart === "undefined") { return; }
      try {
        var config = JSON.parse(source.textContent);
        config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
        new window.Chart(canvas, config);
      } catch (err) {
        console.error("spanwatch: chart", err);
      }
    });
  }
  window.spanwatch = { wire: wire };
  onReady(function () {
    if (window.Chart) {
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      window.Chart.defaults.font.size = 11;
      window.Chart.defaults.color = "#5c6773";
    }
    wire(document);
  });
})();
