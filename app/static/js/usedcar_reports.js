// Used-car report form: the totals row follows the inputs (the server computes it again on
// save and on the report page). No inline script (CSP).
(function () {
  "use strict";

  var table = document.getElementById("report-table");
  if (!table || !table.querySelector("input[data-col]")) { return; }

  function value(input) {
    var n = parseFloat(String(input.value || "").replace(/,/g, ""));
    return isFinite(n) ? n : 0;
  }

  function refresh() {
    var cells = table.querySelectorAll("[data-total]");
    Array.prototype.forEach.call(cells, function (cell) {
      var col = cell.getAttribute("data-total");
      var inputs = table.querySelectorAll("input[data-col='" + col + "']");
      var sum = 0;
      Array.prototype.forEach.call(inputs, function (input) { sum += value(input); });
      cell.textContent = col === "amount" ? sum.toFixed(2) : String(Math.round(sum));
    });
  }

  table.addEventListener("input", refresh);
})();
