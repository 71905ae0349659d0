// The HTML report's page script (plain browser JavaScript, inlined into the report by html.ts after ECharts).
// It reads the report's data from <script id="ironlab-data" type="application/json"> and draws every
// `.chart` element with ECharts: the section 2.3 figures (a line per series, 95% intervals as error bars,
// reference lines at 1.00 and the isolation target) and the victim core's time as stacked bars.
// Nothing here fetches anything. When every chart is drawn, <body data-charts-ready="N"> says how many.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('ironlab-data').textContent);
  var COLORS = { none: '#c0392b', 'iron-kernel': '#27ae60', ebpf: '#2874a6' };
  var DASHES = ['solid', 'dashed', 'dotted'];
  var SYMBOLS = ['circle', 'triangle', 'rect', 'diamond'];
  var TIME_COLORS = {
    victim: '#27ae60',
    neighbours: '#e67e22',
    softirq_task: '#c0392b',
    ksoftirqd: '#8e44ad',
    idle: '#bdc3c7',
    other: '#7f8c8d',
  };
  var TIME_NAMES = {
    victim: 'victim',
    neighbours: 'neighbours',
    softirq_task: 'softirq in task context',
    ksoftirqd: 'ksoftirqd',
    idle: 'idle',
    other: 'other',
  };
  var drawn = 0;

  function fmt(v) {
    return v === null || v === undefined ? '-' : v.toFixed(2);
  }

  function round(v) {
    return Math.round(v * 1000) / 1000;
  }

  function step(lo, hi) {
    var span = hi - lo;
    return span > 3 ? 1 : span > 1.2 ? 0.5 : span > 0.4 ? 0.1 : 0.05;
  }

  function errorBarSeries(name, color, points) {
    var bars = [];
    points.forEach(function (p, i) {
      if (p && p.ci95) bars.push([i, p.ci95[0], p.ci95[1]]);
    });
    return {
      type: 'custom',
      name: name,
      silent: true,
      z: 1,
      itemStyle: { color: color },
      encode: { x: 0, y: [1, 2] },
      data: bars,
      renderItem: function (params, api) {
        var lo = api.coord([api.value(0), api.value(1)]);
        var hi = api.coord([api.value(0), api.value(2)]);
        var cap = 5;
        var style = { stroke: color, lineWidth: 1.5 };
        return {
          type: 'group',
          children: [
            { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: style },
            { type: 'line', shape: { x1: lo[0] - cap, y1: lo[1], x2: lo[0] + cap, y2: lo[1] }, style: style },
            { type: 'line', shape: { x1: hi[0] - cap, y1: hi[1], x2: hi[0] + cap, y2: hi[1] }, style: style },
          ],
        };
      },
    };
  }

  function figureOption(fig) {
    var series = [];
    var perMode = {};
    fig.series.forEach(function (s, i) {
      var k = perMode[s.enforcement] || 0;
      perMode[s.enforcement] = k + 1;
      var color = COLORS[s.enforcement] || '#555';
      var line = {
        type: 'line',
        name: s.name,
        connectNulls: true,
        symbol: SYMBOLS[k % SYMBOLS.length],
        symbolSize: 8,
        lineStyle: { color: color, type: DASHES[k % DASHES.length], width: 2 },
        itemStyle: { color: color },
        z: 2,
        data: s.points.map(function (p) {
          return p && p.mean !== null ? { value: p.mean, ci95: p.ci95, n: p.n, scenarioId: p.scenarioId } : null;
        }),
      };
      if (i === 0)
        line.markLine = {
          silent: true,
          symbol: 'none',
          label: { formatter: '{b}', color: '#555' },
          data: [
            {
              name: 'perfect isolation',
              yAxis: 1,
              label: { position: 'insideStartBottom' },
              lineStyle: { color: '#555', type: 'solid', width: 1 },
            },
            {
              name: 'IRON target ' + data.target.toFixed(2),
              yAxis: data.target,
              label: { position: 'insideEndTop' },
              lineStyle: { color: '#999', type: 'dashed', width: 1 },
            },
          ],
        };
      series.push(line);
      series.push(errorBarSeries(s.name, color, s.points));
    });
    var legendRows = Math.ceil(fig.series.length / 3);
    return {
      animation: false,
      grid: { left: 56, right: 24, top: 36 + 22 * legendRows, bottom: 48 },
      legend: {
        top: 0,
        width: '92%',
        data: fig.series.map(function (s) {
          return s.name;
        }),
      },
      tooltip: {
        trigger: 'item',
        formatter: function (p) {
          var d = p.data || {};
          return (
            p.seriesName +
            '<br>' +
            fig.xLabel +
            ' ' +
            p.name +
            ': penalty <b>' +
            fmt(d.value) +
            '</b>' +
            '<br>95% CI ' +
            (d.ci95 ? '[' + fmt(d.ci95[0]) + ', ' + fmt(d.ci95[1]) + ']' : '-') +
            ', n = ' +
            d.n
          );
        },
      },
      xAxis: { type: 'category', name: fig.xLabel, nameLocation: 'middle', nameGap: 30, data: fig.categories, boundaryGap: true },
      yAxis: {
        type: 'value',
        name: 'penalty factor',
        nameGap: 12,
        // always show 1.00 and the target; round the ends to the tick step so no odd label crowds a tick
        min: function (v) {
          var lo = Math.min(v.min, 1),
            st = step(lo, v.max);
          return round(Math.floor(lo / st - 0.25) * st);
        },
        max: function (v) {
          var hi = Math.max(v.max, data.target),
            st = step(v.min, hi);
          return round(Math.ceil(hi / st + 0.25) * st);
        },
        axisLabel: {
          formatter: function (v) {
            return String(round(v));
          },
        },
      },
      series: series,
    };
  }

  function timeOption(rows, categories) {
    return {
      animation: false,
      grid: { left: 8, right: 24, top: 40, bottom: 40, containLabel: true },
      legend: {
        top: 0,
        data: categories.map(function (c) {
          return TIME_NAMES[c];
        }),
      },
      tooltip: {
        trigger: 'axis',
        axisPointer: { type: 'shadow' },
        valueFormatter: function (v) {
          return v.toFixed(1) + '%';
        },
      },
      xAxis: { type: 'value', max: 100, name: '% of the victim core', nameLocation: 'middle', nameGap: 26 },
      yAxis: {
        type: 'category',
        inverse: true,
        data: rows.map(function (r) {
          return r.label;
        }),
      },
      series: categories.map(function (c) {
        return {
          type: 'bar',
          stack: 'core',
          name: TIME_NAMES[c],
          itemStyle: { color: TIME_COLORS[c] },
          barMaxWidth: 18,
          data: rows.map(function (r) {
            return Math.round(r.shares[c] * 1000) / 10;
          }),
        };
      }),
    };
  }

  function draw(el, option) {
    var chart = echarts.init(el, null, { renderer: 'svg' });
    chart.setOption(option);
    window.addEventListener('resize', function () {
      chart.resize();
    });
    drawn++;
  }

  data.figures.forEach(function (fig) {
    if (!fig.drawn) return;
    var el = document.getElementById('chart-' + fig.id);
    if (el) draw(el, figureOption(fig));
  });
  var timeEl = document.getElementById('chart-time');
  if (timeEl && data.time.rows.length) draw(timeEl, timeOption(data.time.rows, data.time.categories));
  document.body.setAttribute('data-charts-ready', String(drawn));
})();
