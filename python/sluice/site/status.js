// Fetches /status?format=json every second and renders its figures.
(function () {
  'use strict';
  var last = null;

  function bytes(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(1) + ' GiB';
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function size(n) {
    return n >= 1048576 ? (n / 1048576) + ' MiB' : (n / 1024) + ' KiB';
  }
  function text(id, value) {
    document.getElementById(id).textContent = String(value);
  }
  function rows(id, list) {
    var body = document.getElementById(id);
    while (body.firstChild) body.removeChild(body.firstChild);
    list.forEach(function (cells) {
      var tr = document.createElement('tr');
      cells.forEach(function (v) {
        var td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function setState(label, cls) {
    var el = document.getElementById('state');
    el.textContent = label;
    el.className = 'state ' + cls;
  }
  function render(s) {
    text('connections', s.connections);
    text('requests', s.requests);
    text('bytes_in', bytes(s.bytes_in));
    text('bytes_out', bytes(s.bytes_out));
    text('restarts', s.restarts);
    if (last && s.time > last.time) {
      text('rate', Math.max(0, Math.round((s.requests - last.requests) / (s.time - last.time))));
    }
    last = s;
    rows('workers', s.workers.map(function (w) {
      return [w.pid, w.state, w.uptime_s + ' s', (w.heartbeat_age_ms / 1000).toFixed(1) + ' s ago',
              w.connections, w.requests];
    }));
    rows('pool', s.pool.map(function (p) { return [size(p.block_size), p.in_use]; }));
    rows('closed', Object.keys(s.closed).map(function (k) { return [k.replace(/_/g, ' '), s.closed[k]]; }));
    setState('live', 'live');
  }
  function poll() {
    fetch('status?format=json', { cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(render)
      .catch(function (e) { setState('unavailable (' + e.message + ')', 'down'); });
  }
  poll();
  setInterval(poll, 1000);
})();
