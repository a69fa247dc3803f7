// Browser checks of `make test` (tests/test_site.py). Inert for readers: it runs only when a page is opened with
// ?pagecheck in its address. After the page and MathJax have finished, it appends a hidden JSON report to the page:
// images that did not load, formulas rendered and failed, how far the page is wider than the window, tables that
// scroll inside themselves, and where the report's evidence blocks sit.
(function () {
  if (!new URLSearchParams(window.location.search).has("pagecheck")) return;
  function report() {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); })
                       .map(function (img) { return img.getAttribute("src"); });
    var root = document.documentElement;
    var width = Math.max(root.scrollWidth, document.body.scrollWidth);
    var wide = [];
    document.querySelectorAll("main *").forEach(function (el) {
      var box = el.getBoundingClientRect();
      if (box.right > window.innerWidth + 1 && wide.length < 5) {
        wide.push(el.tagName.toLowerCase() + "." + (el.className && el.className.baseVal === undefined ? el.className : ""));
      }
    });
    // tables that hide columns behind a horizontal scroll of their own (the page itself need not overflow)
    var scrolling = [];
    document.querySelectorAll("main table").forEach(function (table, i) {
      if (table.scrollWidth > table.clientWidth + 1) {
        var head = table.querySelector("th, td");
        scrolling.push(i + ": " + (head ? head.innerText.trim().slice(0, 40) : "") + " (" + table.scrollWidth + " px in " + table.clientWidth + ")");
      }
    });
    // the report's evidence blocks: where they sit, and whether any scrolls sideways
    var evidence = [];
    document.querySelectorAll(".claim-evidence").forEach(function (el) {
      var box = el.getBoundingClientRect();
      evidence.push({id: el.id, left: Math.round(box.left), right: Math.round(box.right),
                     scrolls: el.scrollWidth > el.clientWidth + 1, text: el.innerText.length});
    });
    var text = document.body.innerText;
    var out = document.createElement("pre");
    out.id = "pagecheck-report";
    out.hidden = true;  // in the DOM for --dump-dom, not in the screenshot taken by the same browser run
    out.textContent = JSON.stringify({
      images: images.length,
      broken: broken,
      math: document.querySelectorAll(".MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container").length,
      math_errors: document.querySelectorAll(".MathJax_Error, merror").length + (text.indexOf("Math Processing Error") >= 0 ? 1 : 0),
      raw_math: (text.match(/\\\(|\\\[|\$\$/g) || []).length,
      window_width: window.innerWidth,
      page_width: width,
      wide_elements: wide,
      scrolling_tables: scrolling,
      evidence: evidence
    });
    document.body.appendChild(out);
  }
  window.addEventListener("load", function () {
    if (window.MathJax && window.MathJax.Hub) { window.MathJax.Hub.Queue(report); } else { report(); }
  });
})();
