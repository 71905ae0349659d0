// The dashboard page: one event stream from the server (server-sent events) pushes the campaign list and the
// selected campaign whenever they change; this module only draws them. No framework, no build step; text goes
// into the page as text (textContent), never as markup. The selected campaign is in the address's #fragment,
// so choosing one does not reload the page and a link to it works.

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  e.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (typeof c === 'string' ? document.createTextNode(c) : c)));
  return e;
}

const selectedId = () => decodeURIComponent(location.hash.replace(/^#c=/, '')) || null;

function duration(seconds) {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** ETA text from the campaign's expected end (the server sends a time; the page counts down). */
function etaText(c) {
  if (c.state === 'done' || c.state === 'failed' || c.state === 'aborted') return '';
  if (c.state === 'stale') return 'orchestrator gone';
  if (!c.progress.etaAt) return c.state === 'queued' ? 'waiting for hosts' : 'estimating…';
  return duration((Date.parse(c.progress.etaAt) - Date.now()) / 1000);
}

function progressText(p) {
  return `${p.done + p.failed}/${p.total} runs${p.failed ? `, ${p.failed} failed` : ''}${p.running ? `, ${p.running} running` : ''}`;
}

function stateBadge(state) {
  return el('span', { class: 'state', 'data-state': state }, state);
}

function renderList(data) {
  const campaigns = data.campaigns ?? data;
  const body = $('#campaigns tbody');
  body.replaceChildren(
    ...campaigns.map((c) => {
      const p = c.progress;
      const row = el(
        'tr',
        { 'data-campaign': c.id, 'data-state': c.state, class: c.id === selectedId() ? 'selected' : null },
        el('td', {}, c.name, ' ', el('small', {}, c.id)),
        el('td', {}, stateBadge(c.state)),
        el('td', {}, c.startedBy ?? '?'),
        el('td', {}, c.hosts.map((h) => h.id).join(', ')),
        el(
          'td',
          { class: 'progress' },
          el('progress', { max: Math.max(1, p.total), value: p.done + p.failed }),
          ' ',
          el('span', { class: 'progress-text' }, progressText(p)),
        ),
        el('td', { class: 'eta', 'data-eta': '' }, etaText(c)),
        el('td', {}, new Date(c.createdAt).toLocaleString()),
      );
      row.addEventListener('click', () => (location.hash = `c=${encodeURIComponent(c.id)}`));
      row.campaign = c;
      return row;
    }),
  );
  $('#empty').hidden = campaigns.length > 0;
}

const fmt = (x) => (x === null || x === undefined ? '–' : x.toFixed(2));

let lastPenalties = new Map();

function renderDetail(d) {
  const section = $('#detail');
  if (!d) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  section.dataset.campaign = d.id;
  section.dataset.state = d.state;
  section.campaign = d;
  $('#detail-name').textContent = d.name;
  $('#detail-id').textContent = d.id;
  $('#detail-state').replaceChildren(stateBadge(d.state));
  const o = d.orchestrator;
  $('#detail-who').textContent =
    `${d.mode} on ${d.hosts.map((h) => `${h.id} (${h.backend})`).join(', ')}; ` +
    (o
      ? `orchestrator ${o.user}@${o.host} pid ${o.pid}${o.alive === false ? ', gone (resume it with ironlab run --resume ' + d.id + ')' : ''}`
      : `started on ${d.startedBy ?? '?'}`);
  const p = d.progress;
  $('#detail-bar').max = Math.max(1, p.total);
  $('#detail-bar').value = p.done + p.failed;
  $('#detail-progress').textContent = progressText(p) + (p.runsPerMin ? `, ${p.runsPerMin.toFixed(1)} runs/min` : '');
  $('#detail-eta').textContent = etaText(d) ? `ETA ${etaText(d)}` : '';
  $('#running').replaceChildren(
    ...(d.runningOn.length
      ? d.runningOn.map((r) => el('li', {}, `${r.hostId ?? '?'}: ${r.scenario} (${r.enforcement})`))
      : [el('li', { class: 'note' }, 'none')]),
  );
  $('#detail-interval').textContent = d.interval;
  const next = new Map();
  $('#penalties tbody').replaceChildren(
    ...d.penalties.map((s) => {
      const key = `${s.scenario}|${s.enforcement}|${s.host}`;
      const shown = `${fmt(s.mean)} ${s.ci95 ? s.ci95.join() : ''} ${s.n}`;
      next.set(key, shown);
      const half = s.ci95 && s.mean ? ((s.ci95[1] - s.ci95[0]) / 2 / s.mean) * 100 : null;
      const changed = lastPenalties.has(key) && lastPenalties.get(key) !== shown;
      return el(
        'tr',
        { 'data-scenario': s.scenario, 'data-enforcement': s.enforcement, class: changed ? 'changed' : null },
        el('td', {}, s.scenario),
        el('td', {}, s.enforcement),
        el('td', {}, s.host ?? ''),
        el('td', { class: `num penalty${s.mean === null ? ' pending' : ''}` }, fmt(s.mean)),
        el(
          'td',
          { class: `num ci${s.ci95 ? '' : ' pending'}` },
          s.ci95 ? `[${fmt(s.ci95[0])}, ${fmt(s.ci95[1])}]` : s.n < 2 ? 'needs 2 runs' : '–',
        ),
        el('td', { class: 'num' }, half === null ? '' : `${half.toFixed(1)}%`),
        el('td', { class: 'num n' }, `${s.n}${s.controlN !== s.n ? ` / ${s.controlN} ctl` : ''}`),
      );
    }),
  );
  lastPenalties = next;
  $('#report-link').href = d.reportUrl;
}

/** The lab's Slurm queue (sent only when the server has a scheduler to ask): ironlab's jobs, running or pending. */
function renderQueue(q) {
  $('#queue').hidden = false;
  $('#jobs tbody').replaceChildren(
    ...q.jobs.map((j) =>
      el(
        'tr',
        { 'data-job': j.jobId, 'data-state': j.state },
        ...[j.jobId, j.user, j.state, j.elapsed, j.timeLimit, j.nodes, j.where, j.campaign].map((v) => el('td', {}, v)),
      ),
    ),
  );
  $('#queue-note').textContent = q.error ? `cannot read the queue: ${q.error}` : q.jobs.length ? '' : 'no ironlab job in the queue';
}

let source = null;

function connect() {
  source?.close();
  const id = selectedId();
  source = new EventSource(id ? `/api/events?campaign=${encodeURIComponent(id)}` : '/api/events');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('error', () => setConnection('reconnecting', 'reconnecting…'));
  source.addEventListener('campaigns', (e) => renderList(JSON.parse(e.data)));
  source.addEventListener('campaign', (e) => renderDetail(JSON.parse(e.data)));
  source.addEventListener('queue', (e) => renderQueue(JSON.parse(e.data)));
  source.addEventListener('trouble', (e) => {
    const { message } = JSON.parse(e.data);
    $('#trouble').hidden = !message;
    $('#trouble').textContent = message ? `cannot read the store: ${message}` : '';
  });
  if (!id) renderDetail(null);
  lastPenalties = new Map();
}

function setConnection(state, text) {
  $('#connection').dataset.state = state;
  $('#connection').textContent = text;
  document.body.dataset.connected = state === 'live' ? 'true' : 'false';
}

// the ETAs count down between updates
setInterval(() => {
  for (const cell of document.querySelectorAll('#campaigns td[data-eta]')) cell.textContent = etaText(cell.parentElement.campaign);
  const d = $('#detail').campaign;
  if (d && !$('#detail').hidden) $('#detail-eta').textContent = etaText(d) ? `ETA ${etaText(d)}` : '';
}, 1000);

window.addEventListener('hashchange', connect);
fetch('/api/campaigns')
  .then((r) => r.json())
  .then((d) => ($('#store').textContent = d.store))
  .catch(() => {});
connect();
