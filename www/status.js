// Fetches the status endpoint every second and renders its figures.
(function () {
  'use strict';
  var names = ['active', 'reading', 'writing', 'waiting', 'accepted', 'handled', 'requests', 'workers'];

  function size(n) {
    if (n >= 1048576) return (n / 1048576) + ' MiB';
    return (n / 1024) + ' KiB';
  }
  function bytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function setState(text, cls) {
    var el = document.getElementById('state');
    el.textContent = text;
    el.className = 'state ' + cls;
  }
  function render(s) {
    names.forEach(function (k) {
      document.getElementById(k).textContent = String(s[k]);
    });
    document.getElementById('pool-held').textContent = bytes(s.pool.held_bytes);
    var body = document.getElementById('pool');
    while (body.firstChild) body.removeChild(body.firstChild);
    s.pool.classes.forEach(function (c) {
      var tr = document.createElement('tr');
      [size(c.size), c.in_use, c.free, c.high_water, c.failures].forEach(function (v) {
        var td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
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
