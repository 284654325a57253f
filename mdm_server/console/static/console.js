// Tabard console: the little the pages need beyond htmx. No inline script anywhere (the CSP
// forbids it); behaviour hangs off data attributes.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});

// Copy buttons: <button data-copy="ID"> copies the text of the element with that id exactly
// as it is (a command, a payload); hidden until script can do it. Where the clipboard is out
// of reach, the text is selected for Ctrl+C instead.
function showCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy][hidden]")) {
    button.hidden = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) {
    return;
  }
  const said = button.textContent;
  const done = (words) => {
    button.textContent = words;
    setTimeout(() => {
      button.textContent = said;
    }, 2000);
  };
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    done("Selected: press Ctrl+C");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.textContent).then(() => done("Copied"), select);
  } else {
    select();
  }
});

// Charts: each <div data-chart> holds its ECharts option as JSON (mdm_server/console/charts.py).
// Apache ECharts, served by Tabard itself, is loaded the first time a page or an htmx fragment
// holds a chart, and draws each one with its SVG renderer (no canvas, no inline style).
// The full build: besides the bar and line charts, its heatmap and visual map (the demand
// page's busiest hours) and its geo component (the division map).
const ECHARTS = "/console/static/vendor/echarts/echarts.min.js";
let echartsLoading = null;

function loadEcharts() {
  if (window.echarts) {
    return Promise.resolve(window.echarts);
  }
  if (!echartsLoading) {
    echartsLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = ECHARTS;
      script.onload = () => resolve(window.echarts);
      script.onerror = () => reject(new Error("could not load " + ECHARTS));
      document.head.appendChild(script);
    });
  }
  return echartsLoading;
}

// A map's outline (GeoJSON: the division's boundary and streets) comes from this server or
// the force's own map server (the only other origin the CSP allows), registered once by name.
const outlines = {};

function loadOutline(echarts, name, url) {
  if (!outlines[url]) {
    outlines[url] = fetch(url, { credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) {
          throw new Error("could not load the map outline");
        }
        return response.json();
      })
      .then((geojson) => echarts.registerMap(name, geojson));
  }
  return outlines[url];
}

// Columns over time: where the chart is too narrow for every label, keep every n-th counting
// back from the newest (the right edge), so each label stays under its own column, none
// touches another, and the newest is always labelled.
function thinLabels(drawn, element, thin) {
  const room = Math.max(element.clientWidth - thin.reserved, 1);
  const every = Math.max(1, Math.ceil((thin.count * thin.px) / room));
  if (element.dataset.every === String(every)) {
    return;
  }
  element.dataset.every = String(every);
  const last = thin.count - 1;
  drawn.setOption({
    xAxis: { axisLabel: { interval: (index) => (last - index) % every === 0 } },
  });
}

// Each drawn chart's ECharts instance and the observer that refits it, so both can be let go
// when htmx swaps the chart out for a fresher one (a live page's poll).
const drawings = new WeakMap();

function forgetChart(element) {
  const drawing = drawings.get(element);
  if (drawing) {
    drawing.watching.disconnect();
    drawing.drawn.dispose();
    drawings.delete(element);
  }
}

function drawCharts(root) {
  const pending = Array.from(root.querySelectorAll("[data-chart]:not([data-drawn])"));
  if (root.matches && root.matches("[data-chart]:not([data-drawn])")) {
    pending.push(root);
  }
  if (pending.length === 0) {
    return;
  }
  for (const element of pending) {
    element.dataset.drawn = "pending"; // htmx:load and DOMContentLoaded may both see it
  }
  loadEcharts().then((echarts) => {
    for (const element of pending) {
      if (element.dataset.geoUrl) {
        loadOutline(echarts, element.dataset.geoName, element.dataset.geoUrl).then(
          () => drawChart(echarts, element),
          () => {
            element.dataset.drawn = "failed";
            element.textContent =
              "The map's outline could not be loaded; the table beside it has the figures.";
          },
        );
      } else {
        drawChart(echarts, element);
      }
    }
  });
}

function drawChart(echarts, element) {
  const chart = JSON.parse(element.dataset.chart);
  element.style.height = chart.height + "px"; // CSSOM, which the CSP allows
  const drawn = echarts.init(element, null, { renderer: "svg" });
  drawn.setOption(chart.option);
  const fit = () => {
    // ECharts 6.1.0 throws on a map drawn 0 by 0 px, and again on every frame after
    // (apache/echarts#21706): a chart with no size (out of sight, or on a page being left)
    // keeps the size it had until it has one again.
    if (element.clientWidth === 0 || element.clientHeight === 0) {
      return;
    }
    drawn.resize();
    if (chart.thin) {
      thinLabels(drawn, element, chart.thin);
    }
  };
  fit();
  const watching = new ResizeObserver(fit);
  watching.observe(element);
  drawings.set(element, { drawn, watching });
  element.dataset.drawn = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts(document);
  showCopyButtons(document);
});
document.addEventListener("htmx:load", (event) => {
  reopenTables(event.target);
  drawCharts(event.target);
  showCopyButtons(event.target);
});

// A live part of a page (data-live) is swapped whole on each poll: the tables someone opened
// ("As a table") stay open in the fresh copy, and the old charts are let go.
const keptOpen = new Set();

document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!event.detail.shouldSwap || !target || !target.matches("[data-live]")) {
    return;
  }
  for (const details of target.querySelectorAll("details[id][open]")) {
    keptOpen.add(details.id);
  }
  for (const element of target.querySelectorAll("[data-chart]")) {
    forgetChart(element);
  }
});

function reopenTables(root) {
  for (const details of root.querySelectorAll("details[id]")) {
    if (keptOpen.delete(details.id)) {
      details.open = true;
    }
  }
}
