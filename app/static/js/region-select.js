// Cascading province / city / district selects (app/templates/macros/region_select.html).
// Changing a level empties the levels below it and fills the next one from
// /public/regions/children/<code>; a city without districts (东莞市) becomes its own district.
(function () {
  var cache = {};

  function children(url, code) {
    if (!cache[code]) {
      cache[code] = fetch(url.replace(/000000$/, code), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .catch(function () { delete cache[code]; return []; });
    }
    return cache[code];
  }

  function reset(select) {
    // Keep the placeholder option only.
    while (select.options.length > 1) select.remove(1);
    select.value = "";
  }

  function fill(select, rows, selected) {
    rows.forEach(function (r) {
      var opt = document.createElement("option");
      opt.value = r.code;
      opt.textContent = r.name;
      select.appendChild(opt);
    });
    if (selected) select.value = selected;
  }

  function bind(box) {
    var url = box.dataset.childrenUrl;
    var province = box.querySelector("[data-level=province]");
    var city = box.querySelector("[data-level=city]");
    var district = box.querySelector("[data-level=district]");
    if (!url || !province || !city || !district) return;

    province.addEventListener("change", function () {
      reset(city);
      reset(district);
      if (!province.value) return;
      var wanted = province.value;
      children(url, wanted).then(function (rows) {
        if (province.value !== wanted) return;  // changed again meanwhile
        fill(city, rows, rows.length === 1 ? rows[0].code : null);
        if (city.value) city.dispatchEvent(new Event("change"));
      });
    });

    city.addEventListener("change", function () {
      reset(district);
      if (!city.value) return;
      var wanted = city.value;
      children(url, wanted).then(function (rows) {
        if (city.value !== wanted) return;
        if (!rows.length) {
          // A city without districts is its own choice.
          var own = city.options[city.selectedIndex];
          rows = [{code: own.value, name: own.textContent}];
        }
        fill(district, rows, rows.length === 1 ? rows[0].code : null);
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-region-select]"), bind);
})();
