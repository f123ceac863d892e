// The Kubernetes manifests, KEDA objects and Grafana dashboard, checked without a cluster: every YAML parses,
// every object validates against the Kubernetes / KEDA schemas (kubernetes-models), kustomizations against a
// minimal schema (ajv), and names line up with the code: env vars with the config schema, images with the
// kustomize image, metric names in queries and panels with what the hub and workers export.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { HubMetrics } from '../src/ops/hub-metrics.ts';
import { processRegistry } from '../src/ops/process-metrics.ts';
import { WorkerMetrics } from '../src/ops/worker-ops.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const K8S = path.join(ROOT, 'deploy', 'k8s');

type Doc = { file: string; obj: any };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(name) ? [p] : [];
  });
}

const docs: Doc[] = yamlFiles(K8S).flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${path.relative(ROOT, file)}: ${d.errors[0]!.message}`);
    return { file: path.relative(ROOT, file), obj: d.toJS() };
  }),
);
const objects = docs.filter((d) => d.obj && !Array.isArray(d.obj) && d.obj.kind && d.obj.kind !== 'Kustomization');
const kustomizations = docs.filter((d) => d.obj?.kind === 'Kustomization');
const byKind = (kind: string) => objects.filter((d) => d.obj.kind === kind).map((d) => d.obj);
const base = (d: Doc) => d.file.includes(`${path.sep}base${path.sep}`) || d.file.includes('/base/');

/** The model class of an apiVersion/kind, from kubernetes-models or @kubernetes-models/keda. */
async function modelOf(apiVersion: string, kind: string): Promise<any> {
  const mod = apiVersion.startsWith('keda.sh/')
    ? await import(`@kubernetes-models/keda/${apiVersion}`)
    : await import(`kubernetes-models/${apiVersion}`);
  const cls = mod[kind];
  if (!cls) throw new Error(`unknown kind ${kind} in ${apiVersion}`);
  return cls;
}

/** Every variable of the config schema (src/core/config.ts). */
const configVars = new Set(
  [...readFileSync(path.join(ROOT, 'src', 'core', 'config.ts'), 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map(
    (m) => m[1]!,
  ),
);

/** Every metric name the hub and workers export (histograms with their _bucket/_sum/_count series). */
async function exportedMetrics(): Promise<Set<string>> {
  const fakeCtx = { redis: null, config: { QUEUE_PREFIX: 'x' } } as any;
  const regs = [
    new HubMetrics(fakeCtx, { planner: 'rule' }).registry,
    new WorkerMetrics(() => ({ running: 0, concurrency: 1 })).registry,
    processRegistry,
  ];
  const names = new Set<string>();
  for (const r of regs)
    for (const m of await r.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
    }
  return names;
}

const kustomizationSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'resources'],
  properties: {
    apiVersion: { const: 'kustomize.config.k8s.io/v1beta1' },
    kind: { const: 'Kustomization' },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    resources: { type: 'array', minItems: 1, items: { type: 'string' } },
    images: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, newName: { type: 'string' }, newTag: { type: 'string' } },
      },
    },
    patches: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { path: { type: 'string' }, patch: { type: 'string' }, target: { type: 'object' } },
        oneOf: [{ required: ['path'] }, { required: ['patch'] }],
      },
    },
    labels: { type: 'array' },
  },
  additionalProperties: false,
};

describe('deploy/k8s', () => {
  it('parses, and every object validates against the Kubernetes and KEDA schemas', async () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const { file, obj } of objects) {
      const Model = await modelOf(obj.apiVersion, obj.kind);
      expect(() => new Model(obj).validate(), `${file}: ${obj.kind} ${obj.metadata?.name}`).not.toThrow();
    }
    // The validator does reject a wrong object (so the loop above proves something).
    const Deployment = await modelOf('apps/v1', 'Deployment');
    expect(() => new Deployment({ metadata: { name: 'x' }, spec: { replicas: 'two' } }).validate()).toThrow();
  });

  it('kustomizations are well formed and point at files that exist', () => {
    const validate = new Ajv({ allErrors: true }).compile(kustomizationSchema);
    expect(kustomizations.map((k) => k.file).sort()).toEqual([
      path.join('deploy', 'k8s', 'base', 'kustomization.yaml'),
      path.join('deploy', 'k8s', 'overlays', 'example', 'kustomization.yaml'),
    ]);
    for (const { file, obj } of kustomizations) {
      expect(validate(obj), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
      const dir = path.dirname(path.join(ROOT, file));
      for (const r of obj.resources) expect(existsSync(path.join(dir, r)), `${file}: ${r}`).toBe(true);
      for (const p of obj.patches ?? [])
        if (p.path) expect(existsSync(path.join(dir, p.path)), `${file}: ${p.path}`).toBe(true);
    }
    // Every base file is listed in the base kustomization.
    const baseK = kustomizations.find((k) => k.file.includes('base'))!.obj;
    const baseFiles = readdirSync(path.join(K8S, 'base')).filter((f) => f !== 'kustomization.yaml');
    expect(baseFiles.sort()).toEqual([...baseK.resources].sort());
  });

  it('runs two hubs with probes, graceful stop and a disruption budget', () => {
    const hub = byKind('Deployment').find((d) => d.metadata.name === 'switchboard-hub');
    expect(hub.spec.replicas).toBe(2);
    expect(hub.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const c = hub.spec.template.spec.containers[0];
    expect(c.args).toEqual(['hub']);
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/health');
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(hub.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(5 + 3);
    const pdbs = byKind('PodDisruptionBudget');
    for (const d of byKind('Deployment'))
      expect(
        pdbs.some((p) =>
          Object.entries(p.spec.selector.matchLabels).every(([k, v]) => d.spec.selector.matchLabels[k] === v),
        ),
        `PDB for ${d.metadata.name}`,
      ).toBe(true);
    const svc = byKind('Service')[0];
    expect(svc.spec.selector).toEqual(hub.spec.selector.matchLabels);
    expect(byKind('Ingress')[0].spec.rules[0].http.paths[0].backend.service.name).toBe(svc.metadata.name);
  });

  it('uses only variables of the config schema, and gives workers no database', () => {
    const configMaps = new Map(byKind('ConfigMap').map((m) => [m.metadata.name, m]));
    const secretKeys = new Set(byKind('Secret').flatMap((s) => Object.keys(s.stringData ?? {})));
    for (const { file, obj } of objects.filter((d) => d.obj.kind === 'ConfigMap'))
      for (const key of Object.keys(obj.data))
        expect(configVars.has(key), `${file}: ${key} is not in config.ts`).toBe(true);
    for (const d of byKind('Deployment')) {
      for (const c of d.spec.template.spec.containers) {
        const names = [
          ...(c.env ?? []).map((e: any) => e.name),
          ...(c.envFrom ?? []).flatMap((f: any) => Object.keys(configMaps.get(f.configMapRef.name)?.data ?? {})),
        ];
        for (const n of names) expect(configVars.has(n), `${d.metadata.name}: ${n}`).toBe(true);
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) expect(secretKeys.has(e.valueFrom.secretKeyRef.key)).toBe(true);
        if (d.metadata.labels['app.kubernetes.io/component'] === 'worker') {
          expect(names).not.toContain('DATABASE_URL');
          expect(names).toContain('REDIS_URL');
          expect(c.args).toEqual(['worker']);
        }
      }
    }
    // Overlay patches set config variables too.
    for (const { file, obj } of docs.filter((d) => d.file.includes('overlays') && d.obj?.kind === 'ConfigMap'))
      for (const key of Object.keys(obj.data)) expect(configVars.has(key), `${file}: ${key}`).toBe(true);
  });

  it('every container runs the kustomize image, pinned to the package version in the example overlay', () => {
    const images = byKind('Deployment').flatMap((d) => d.spec.template.spec.containers.map((c: any) => c.image));
    expect(new Set(images)).toEqual(new Set(['switchboard']));
    const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    const overlay = kustomizations.find((k) => k.file.includes('overlays'))!.obj;
    expect(overlay.images).toEqual([{ name: 'switchboard', newName: expect.any(String), newTag: version }]);
  });

  it('has a KEDA ScaledObject per worker pool on the pending-aware depth the hub exports', async () => {
    const metrics = await exportedMetrics();
    const workers = byKind('Deployment').filter((d) => d.metadata.labels['app.kubernetes.io/component'] === 'worker');
    expect(workers.length).toBeGreaterThanOrEqual(2);
    const scaled = byKind('ScaledObject');
    for (const w of workers) {
      const so = scaled.find((s) => s.spec.scaleTargetRef.name === w.metadata.name);
      expect(so, `ScaledObject for ${w.metadata.name}`).toBeDefined();
      const trigger = so.spec.triggers[0];
      expect(trigger.type).toBe('prometheus');
      expect(trigger.metadata.query).toContain('switchboard_queue_depth');
      for (const name of trigger.metadata.query.match(/switchboard_\w+/g)) expect(metrics.has(name), name).toBe(true);
      expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
      // The pool's capabilities and the query's regex agree.
      const caps = w.spec.template.spec.containers[0].env
        .find((e: any) => e.name === 'WORKER_CAPABILITIES')
        .value.split(',');
      const regex = new RegExp(`^${/capability=~"([^"]+)"/.exec(trigger.metadata.query)![1]!.replace(/\\\\/g, '\\')}$`);
      for (const cap of caps) expect(regex.test(cap.replace('*', 'x')), `${cap} in ${regex}`).toBe(true);
      const auth = so.spec.triggers[0].authenticationRef?.name;
      if (auth) expect(byKind('TriggerAuthentication').map((t) => t.metadata.name)).toContain(auth);
    }
    expect(scaled.some((s) => s.spec.minReplicaCount === 0)).toBe(true); // scale to zero shown on one pool
  });
});

describe('deploy/grafana', () => {
  it('the dashboard parses and every query uses a metric the code exports', async () => {
    const metrics = await exportedMetrics();
    const dash = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'grafana', 'switchboard-dashboard.json'), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    const used = new Set(exprs.flatMap((e) => e.match(/switchboard_\w+/g) ?? []));
    for (const name of used) expect(metrics.has(name), name).toBe(true);
    for (const needed of [
      'tasks_finished_total',
      'queue_depth',
      'workers',
      'notifications_total',
      'llm_cost_usd_total',
    ])
      expect(used.has(`switchboard_${needed}`), needed).toBe(true);
  });
});
