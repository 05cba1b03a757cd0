// The auditor's page: calls the read-only JSON API with the key the auditor pasted.
// Every value shown comes from client input somewhere (model names, subjects), so it is
// only ever set with textContent, never parsed as HTML.
"use strict";

const KEY_NAME = "gatewayAuditKey";
const $ = (id) => document.getElementById(id);

function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

function showKeyState() {
  $("key-state").textContent = storedKey() ? "key set for this tab" : "no key";
}

async function api(path) {
  const key = storedKey();
  if (!key) throw new Error("Paste an auditor key first.");
  const response = await fetch(path, { headers: { Authorization: "Bearer " + key }, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new Error(response.status + ": " + message);
  }
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (cls) td.className = cls;
  td.title = td.textContent;
  row.appendChild(td);
}

function decisionOf(record) {
  if (!record.decision) return "";
  return record.decision.allowed ? "allow" : "deny";
}

function renderRows(records) {
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const record of records) {
    const row = document.createElement("tr");
    const principal = record.principal || {};
    const usage = record.usage || {};
    const latency = record.latency_ms || {};
    const decision = decisionOf(record);
    cell(row, (record.time || "").replace("T", " ").replace("Z", ""));
    cell(row, record.request_id || record.kind);
    cell(row, principal.subject);
    cell(row, principal.team);
    cell(row, record.operation || record.type);
    cell(row, record.model);
    cell(row, record.provider);
    cell(row, decision, decision);
    cell(row, record.status, record.status >= 400 ? "error" : "");
    cell(row, usage.total_tokens);
    cell(row, latency.total);
    row.dataset.requestId = record.request_id || "";
    row.addEventListener("click", () => showDetail(record, row));
    body.appendChild(row);
  }
}

function describeDecision(d) {
  if (!d) return "";
  return (d.allowed ? "allowed" : "denied") + ": " + d.action + " on " + d.resource + " in team " + d.domain +
    " (policy " + d.policy_version + (d.rule ? "; rule: " + d.rule : "") + ")";
}

function describeParts(object, unit) {
  if (!object) return "";
  return Object.entries(object).map(([k, v]) => k + " " + (v === null ? "–" : v + (unit || ""))).join(" · ");
}

function describeAttempts(attempts) {
  return (attempts || []).map((a) => a.provider + "/" + a.model + " → " + (a.status === null ? "–" : a.status) +
    (a.error ? " " + a.error : "") + (a.latency_ms === null ? "" : " in " + a.latency_ms + " ms")).join("; ");
}

function field(list, name, value) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
  list.append(dt, dd);
}

async function showDetail(summary, row) {
  for (const other of document.querySelectorAll("#results tr.selected")) other.classList.remove("selected");
  if (row) row.classList.add("selected");
  let record = summary;
  if (summary.request_id) {
    try {
      record = await api("/admin/audit/records/" + encodeURIComponent(summary.request_id));
    } catch (error) {
      $("search-status").textContent = "Could not load the record: " + error.message;
    }
  }
  const principal = record.principal || {};
  const list = $("detail-fields");
  list.replaceChildren();
  $("detail-id").textContent = record.request_id || record.kind || "";
  field(list, "time", record.time);
  field(list, "operation", record.operation);
  field(list, "subject", principal.subject);
  field(list, "team", principal.team);
  field(list, "roles", (principal.roles || []).join(", "));
  field(list, "authenticated by", principal.method);
  field(list, "key id", principal.key_id);
  field(list, "token issuer", principal.issuer);
  field(list, "on behalf of", (principal.delegation || []).join(" → "));
  field(list, "client", record.client);
  field(list, "model", record.model);
  field(list, "provider / deployment", record.provider ? record.provider + " / " + record.deployment : "");
  field(list, "attempts", describeAttempts(record.attempts));
  field(list, "decision", describeDecision(record.decision));
  field(list, "PII findings", (record.pii || []).map((f) => f.type + " ×" + f.count + " (" + f.action + ")").join(", "));
  field(list, "tokens", describeParts(record.usage));
  field(list, "cost", record.cost === null ? "not priced" : record.cost);
  field(list, "latency", describeParts(record.latency_ms, " ms"));
  field(list, "status", record.status);
  field(list, "error", record.error ? record.error.type + (record.error.code ? " (" + record.error.code + ")" : "") : "");
  field(list, "outcome", record.outcome);
  field(list, "stream", record.stream);
  field(list, "content", record.content);
  field(list, "replica / seq", record.replica + " / " + record.seq);
  field(list, "hash", record.hash);
  $("detail-raw").textContent = JSON.stringify(record, null, 2);
  $("detail").hidden = false;
}

async function runSearch(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("filters"))) {
    if (String(value).trim()) params.set(name, String(value).trim());
  }
  $("search-status").textContent = "Searching…";
  try {
    const page = await api("/admin/audit/records?" + params.toString());
    renderRows(page.data);
    $("search-status").textContent = page.data.length + " record(s)" + (page.has_more ? " (limit reached: narrow the filters)" : "");
  } catch (error) {
    renderRows([]);
    $("search-status").textContent = error.message;
  }
}

async function runVerify() {
  const status = $("verify-status");
  const findings = $("verify-findings");
  status.className = "status unknown";
  status.textContent = "Verifying…";
  findings.replaceChildren();
  try {
    const report = await api("/admin/audit/verify");
    const records = report.replicas.reduce((sum, r) => sum + r.records, 0);
    status.className = "status " + (report.ok ? "ok" : "bad");
    status.textContent = (report.ok ? "Chain intact" : "TAMPERING DETECTED") + " — " + report.replicas.length +
      " replica chain(s), " + records + " record(s)";
    for (const finding of report.findings) {
      const item = document.createElement("li");
      item.className = finding.level;
      const where = finding.segment ? finding.segment + (finding.line ? " line " + finding.line : "") : finding.replica;
      item.textContent = finding.level + ": " + where + ": " + finding.message;
      findings.appendChild(item);
    }
  } catch (error) {
    status.className = "status bad";
    status.textContent = error.message;
  }
}

function start() {
  showKeyState();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    if (value) sessionStorage.setItem(KEY_NAME, value);
    $("key").value = "";
    showKeyState();
    runVerify();
    runSearch();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_NAME);
    showKeyState();
    renderRows([]);
    $("detail").hidden = true;
  });
  $("filters").addEventListener("submit", runSearch);
  $("verify-run").addEventListener("click", runVerify);
  if (storedKey()) {
    runVerify();
    runSearch();
  }
}

document.addEventListener("DOMContentLoaded", start);
