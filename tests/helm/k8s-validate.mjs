// Validates Kubernetes objects against the Kubernetes OpenAPI schemas (and the Prometheus
// Operator CRDs) shipped by the npm packages kubernetes-models and
// @kubernetes-models/prometheus-operator (`npm ci --prefix tests/helm`).
//
// stdin: a JSON array of objects. stdout: a JSON array, one {kind, name, result, error} per
// object, result "ok", "invalid" or "unknown" (no model for that apiVersion/kind). Exit 0,
// or 3 when the packages are not installed. It checks field types, enums and required
// fields; like the API server's schema it does not reject unknown fields.
const kModels = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
};

async function readStdin() {
  let data = "";
  for await (const chunk of process.stdin) data += chunk;
  return JSON.parse(data);
}

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const base = kModels[group] ?? (group ? `kubernetes-models/${group}` : "kubernetes-models");
  try {
    const mod = await import(`${base}/${version}`);
    return mod[kind];
  } catch (e) {
    if (e.code === "ERR_MODULE_NOT_FOUND" && !String(e.message).includes(`/${version}`)) {
      throw e;  // the package itself is missing
    }
    return undefined;
  }
}

try {
  await import("kubernetes-models/v1");
  await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");
} catch (e) {
  console.log(JSON.stringify({missing: String(e.message).split("\n")[0]}));
  process.exit(3);
}

const out = [];
for (const obj of await readStdin()) {
  const entry = {kind: obj.kind, name: obj.metadata?.name ?? null, result: "ok", error: null};
  const Model = await modelFor(String(obj.apiVersion), String(obj.kind));
  if (!Model) {
    entry.result = "unknown";
  } else {
    try {
      new Model(obj).validate();
    } catch (e) {
      entry.result = "invalid";
      entry.error = e.message;
    }
  }
  out.push(entry);
}
console.log(JSON.stringify(out));
