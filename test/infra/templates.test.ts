/**
 * Security-critical settings of the infrastructure templates (infra/, azure.yaml).
 *
 * The Bicep compiler and Azure are not reachable where these tests run, so the templates
 * are parsed here by a small, strict parser of the Bicep subset they use (declarations,
 * object/array literals, strings, `[for ...]`, and expressions kept as raw text). Each
 * assertion looks up one property of one resource: removing a setting, or changing its
 * value, fails the matching test. Anything the parser does not understand fails too, so
 * a template cannot silently drift out of what is checked.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../shared/config/schema';
import { ARM_ACTIONS } from '../support/arm-cosmos-standin';
import { Deployment, SUBSCRIPTION } from './bicep-deploy';
import {
  BicepSyntaxError,
  type Decl,
  Expr,
  ForExpr,
  type Obj,
  Parser,
  parseBicep,
  scanString,
  stripComments,
  type Template,
  type Value,
} from './bicep-parser';

const ROOT = join(__dirname, '..', '..');
const INFRA = join(ROOT, 'infra');

// ---------------------------------------------------------------------------------------
// Loading and querying the templates
// ---------------------------------------------------------------------------------------

function bicepFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return bicepFiles(p);
    return e.name.endsWith('.bicep') ? [p] : [];
  });
}

const TEMPLATES = new Map<string, Template>();
for (const path of bicepFiles(INFRA)) {
  const file = relative(INFRA, path).split('\\').join('/');
  const text = readFileSync(path, 'utf8');
  let decls: Decl[] = [];
  try {
    decls = parseBicep(text);
  } catch (e) {
    decls = [];
    (TEMPLATES as Map<string, Template & { error?: string }>).set(file, { file, text, code: text, decls, error: String(e) });
    continue;
  }
  TEMPLATES.set(file, { file, text, code: stripComments(text), decls });
}

function template(file: string): Template {
  const t = TEMPLATES.get(file);
  if (!t) throw new Error(`infra/${file} is missing`);
  return t;
}

interface Resource {
  t: Template;
  decl: Decl;
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  condition?: string;
  loop?: ForExpr;
  body: Obj;
}

function resourcesOf(t: Template): Resource[] {
  return t.decls
    .filter((d) => d.kind === 'resource')
    .map((d) => {
      const [type = '', apiVersion = ''] = (d.type ?? '').split('@');
      const loop = d.value instanceof ForExpr ? d.value : undefined;
      const body = (loop ? loop.body : d.value) as Obj;
      return {
        t,
        decl: d,
        symbol: d.name,
        type,
        apiVersion,
        existing: !!d.existing,
        ...(d.condition ? { condition: d.condition } : {}),
        ...(loop ? { loop } : {}),
        body,
      };
    });
}

function allResources(): Resource[] {
  return [...TEMPLATES.values()].flatMap(resourcesOf);
}

/** Resources declared (not `existing`) of one type, anywhere in infra/. */
function declared(type: string): Resource[] {
  return allResources().filter((r) => r.type.toLowerCase() === type.toLowerCase() && !r.existing);
}

function one(type: string): Resource {
  const found = declared(type);
  expect(
    found.map((r) => `${r.t.file}:${r.symbol}`),
    `exactly one ${type}`,
  ).toHaveLength(1);
  return found[0]!;
}

function get(v: Value | undefined, path: string): Value | undefined {
  let cur: Value | undefined = v;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || cur instanceof Expr || cur instanceof ForExpr) return undefined;
    cur = (cur as Obj)[key];
  }
  return cur;
}

function decl(t: Template, kind: Decl['kind'], name: string): Decl | undefined {
  return t.decls.find((d) => d.kind === kind && d.name === name);
}

function raw(v: Value | undefined): string | undefined {
  return v instanceof Expr ? v.raw : undefined;
}

/** Follows a bare identifier to the var it names (recursively); params are returned as-is. */
function resolve(t: Template, v: Value | undefined): Value | undefined {
  const r = raw(v);
  if (r && /^[A-Za-z_]\w*$/.test(r)) {
    const d = decl(t, 'var', r);
    if (d) return resolve(t, d.value);
  }
  return v;
}

/** The param a value refers to directly (`foo` where `param foo ...`). */
function paramOf(t: Template, v: Value | undefined): Decl | undefined {
  const r = raw(resolve(t, v));
  return r ? decl(t, 'param', r) : undefined;
}

/** String literals inside an expression ('' included), interpolation kept raw. */
function stringLiterals(exprRaw: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < exprRaw.length) {
    if (exprRaw[i] === "'") {
      const end = scanString(exprRaw, i);
      out.push(exprRaw.slice(i + 1, end - 1));
      i = end;
    } else i++;
  }
  return out;
}

/** The `params` object a module declaration in main.bicep passes to `path`. */
function moduleParams(path: string): Obj {
  const main = template('main.bicep');
  const mods = main.decls.filter((d) => d.kind === 'module' && d.type === path);
  expect(mods, `main.bicep instantiates ${path} once`).toHaveLength(1);
  // A module loop (the Cosmos DB accounts): the params of each iteration.
  const body = mods[0]!.value instanceof ForExpr ? mods[0]!.value.body : mods[0]!.value;
  return get(body, 'params') as Obj;
}

function allowedValues(d: Decl | undefined): string[] | undefined {
  const a = d?.decorators.find((x) => x.startsWith('@allowed('));
  if (!a) return undefined;
  const v = new Parser(a.slice('@allowed('.length, -1)).value();
  return (v as Value[]).map(String);
}

function minValue(d: Decl | undefined): number | undefined {
  const m = d?.decorators.map((x) => /^@minValue\((\d+)\)$/.exec(x)).find(Boolean);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------------------

/** Every role definition id rbac.bicep may use, by name. */
const ALLOWED_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': 'Key Vault Crypto Officer',
  'e147488a-f6f5-4113-8e2d-b22465e65bf6': 'Key Vault Crypto Service Encryption User',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  '00000000-0000-0000-0000-000000000002': 'Cosmos DB Built-in Data Contributor',
};

/** Role definition ids that must never appear in the templates. */
const FORBIDDEN_ROLES: Record<string, string> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
  '00482a5a-887f-4fb3-b363-3b7fe8e74483': 'Key Vault Administrator',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  '5bd9cd88-fe45-4216-938b-f97437e15450': 'DocumentDB Account Contributor',
  '230815da-be43-4aae-9cb4-875f7bd000aa': 'Cosmos DB Operator',
  '17d1049b-9a84-46fb-8f53-869881c3d3ab': 'Storage Account Contributor',
  '81a9662b-bebf-436f-a333-f67b29880f12': 'Storage Account Key Operator Service Role',
};

const EU_REGIONS = new Set([
  'westeurope',
  'northeurope',
  'swedencentral',
  'germanywestcentral',
  'francecentral',
  'italynorth',
  'polandcentral',
  'spaincentral',
  'austriaeast',
  'belgiumcentral',
  'denmarkeast',
]);

/** Text that only appears where a key, SAS or connection string with a key is handled. */
const SECRET_PATTERNS: RegExp[] = [
  /AccountKey\s*=/i,
  /SharedAccessSignature/i,
  /SharedAccessKey/i,
  /[?&]sig=/i,
  /DefaultEndpointsProtocol\s*=/i,
  /UseDevelopmentStorage/i,
  /InstrumentationKey\s*=/i,
  /\blist[A-Z]\w*\s*\(/, // listKeys(, listConnectionStrings(, listAccountSas(, listServiceSas(, ...
  /\.listKeys\b/i,
  /(primary|secondary)(Readonly)?MasterKey/i,
  /(primary|secondary)(Access)?Key\b/,
  /\.keys\s*\[/i,
  /\bAccountKey\b/,
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

describe('the template parser', () => {
  it('reads objects, arrays, strings, expressions and loops', () => {
    const decls = parseBicep(
      [
        "@allowed([\n  'a'\n  'b'\n])",
        "param p string = 'a' // note",
        "var v = p == 'a' ? {\n  x: 1\n} : {}",
        "resource r 'X/y@2024-01-01' = if (v != null) {",
        "  name: 'n-${p}'",
        '  properties: {',
        '    on: true',
        "    list: [\n      'one'\n      2\n    ]",
        "    'quoted-key': union(a, {\n      b: 'c'\n    })",
        '  }',
        '}',
        "resource s 'X/z@2024-01-01' existing = [for (n, i) in ['a']: if (true) {",
        '  name: n',
        '}]',
      ].join('\n'),
    );
    expect(decls.map((d) => `${d.kind}:${d.name}`)).toEqual(['param:p', 'var:v', 'resource:r', 'resource:s']);
    expect(decls[0]!.decorators).toEqual(["@allowed([\n  'a'\n  'b'\n])"]);
    expect(decls[0]!.value).toBe('a');
    expect(raw(decls[1]!.value)).toBe("p == 'a' ? { x: 1 } : {}");
    const r = decls[2]!;
    expect(r.condition).toBe('v != null');
    expect(raw(get(r.value, 'name'))).toBe("'n-${p}'");
    expect(get(r.value, 'properties.on')).toBe(true);
    expect(get(r.value, 'properties.list')).toEqual(['one', 2]);
    expect(raw(get(r.value, 'properties.quoted-key'))).toBe("union(a, { b: 'c' })");
    expect(decls[3]!.existing).toBe(true);
    expect(decls[3]!.value).toBeInstanceOf(ForExpr);
  });

  it('rejects what it does not understand', () => {
    expect(() => parseBicep("resource r 'X@1' = {\n  a 1\n}")).toThrow(BicepSyntaxError);
    expect(() => parseBicep("resource r 'X@1' = {\n  a: 1\n  a: 2\n}")).toThrow(/duplicate key/);
    expect(() => parseBicep('extension graph')).toThrow(/unsupported statement/);
    expect(() => parseBicep("var x = 'open")).toThrow(BicepSyntaxError);
  });

  it('parses every template under infra/', () => {
    expect([...TEMPLATES.keys()].sort()).toEqual(
      expect.arrayContaining(['main.bicep', 'app/rbac.bicep', 'app/api.bicep', 'app/cosmos.bicep', 'app/keyvault.bicep']),
    );
    for (const t of TEMPLATES.values()) {
      expect((t as Template & { error?: string }).error, t.file).toBeUndefined();
      expect(t.decls.filter((d) => d.kind === 'resource' || d.kind === 'module').length, t.file).toBeGreaterThan(0);
    }
  });

  it('every module main.bicep references exists', () => {
    const main = template('main.bicep');
    const mods = main.decls.filter((d) => d.kind === 'module');
    expect(mods.length).toBeGreaterThan(5);
    for (const m of mods) expect(existsSync(join(INFRA, m.type!)), m.type).toBe(true);
  });
});

describe('azure.yaml', () => {
  /** Indentation-based YAML maps of scalars (all azure.yaml uses). */
  function readYaml(text: string): Obj {
    const root: Obj = {};
    const stack: { indent: number; obj: Obj }[] = [{ indent: -1, obj: root }];
    for (const line of text.split('\n')) {
      const content = line.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
      if (!content.trim()) continue;
      const m = /^(\s*)([\w.-]+):\s*(.*)$/.exec(content);
      if (!m) throw new Error(`unsupported YAML line: ${line}`);
      const indent = m[1]!.length;
      while (stack[stack.length - 1]!.indent >= indent) stack.pop();
      const parent = stack[stack.length - 1]!.obj;
      if (m[3] === '') {
        const child: Obj = {};
        parent[m[2]!] = child;
        stack.push({ indent, obj: child });
      } else parent[m[2]!] = m[3]!.replace(/^(['"])(.*)\1$/, '$2');
    }
    return root;
  }
  const yaml = readYaml(readFileSync(join(ROOT, 'azure.yaml'), 'utf8'));

  it('deploys the repository root as the api service on Azure Functions', () => {
    expect(get(yaml, 'services.api.host')).toBe('function');
    expect(get(yaml, 'services.api.language')).toBe('ts');
    expect(get(yaml, 'services.api.project')).toBe('.');
    expect(existsSync(join(ROOT, 'host.json'))).toBe(true);
  });

  it('builds remotely, so dependencies (the native libsql binary among them) are installed on Linux by Azure', () => {
    expect(get(yaml, 'services.api.remoteBuild')).toBe('true');
  });

  it('provisions infra/main.bicep, whose Function App carries the azd service tag', () => {
    expect(get(yaml, 'infra.provider')).toBe('bicep');
    expect(get(yaml, 'infra.path')).toBe('infra');
    expect(get(yaml, 'infra.module')).toBe('main');
    const site = one('Microsoft.Web/sites');
    expect(raw(get(site.body, 'tags'))).toMatch(/'azd-service-name': 'api'/);
  });
});

describe('main.bicep parameters', () => {
  const main = template('main.bicep');
  const params = JSON.parse(readFileSync(join(INFRA, 'main.parameters.json'), 'utf8')).parameters as Record<string, { value: string }>;

  it('deploys at subscription scope into two different EU regions', () => {
    expect(decl(main, 'targetScope', 'targetScope')?.value).toBe('subscription');
    const primary = decl(main, 'param', 'primaryLocation');
    const secondary = decl(main, 'param', 'secondaryLocation');
    expect(primary?.value).toBe('westeurope');
    expect(secondary?.value).toBe('northeurope');
    for (const p of [primary, secondary]) {
      const allowed = allowedValues(p);
      expect(allowed, p?.name).toBeDefined();
      for (const region of allowed!) expect(EU_REGIONS.has(region), `${p?.name} allows ${region}`).toBe(true);
    }
    expect(decl(main, 'param', 'environmentName')?.type).toBe('string');
  });

  it('offers standard or premium (HSM) Key Vault and a public network switch', () => {
    const sku = decl(main, 'param', 'keyVaultSku');
    expect(allowedValues(sku)?.sort()).toEqual(['premium', 'standard']);
    expect(allowedValues(decl(main, 'param', 'keyVaultPublicNetworkAccess'))?.sort()).toEqual(['Disabled', 'Enabled']);
    expect(raw(get(moduleParams('app/keyvault.bicep'), 'sku'))).toBe('keyVaultSku');
    expect(raw(get(moduleParams('app/keyvault.bicep'), 'publicNetworkAccess'))).toBe(
      "vnetEnabled ? 'Disabled' : keyVaultPublicNetworkAccess",
    );
    // A Premium vault makes the app create its tenant keys as HSM keys.
    expect(raw(get(moduleParams('app/api.bicep'), 'keyVaultKeyType'))).toBe("keyVaultSku == 'premium' ? 'RSA-HSM' : 'RSA'");
    expect(allowedValues(decl(template('app/api.bicep'), 'param', 'keyVaultKeyType'))?.sort()).toEqual(['RSA', 'RSA-HSM']);
  });

  it('takes S3 credentials only as @secure() params and never outputs them', () => {
    const secure = main.decls.filter((d) => d.kind === 'param' && d.decorators.includes('@secure()')).map((d) => d.name);
    expect(secure.sort()).toEqual(['backupS3AccessKeyId', 'backupS3SecretAccessKey']);
    for (const t of TEMPLATES.values()) {
      const secureHere = t.decls.filter((d) => d.kind === 'param' && d.decorators.includes('@secure()')).map((d) => d.name);
      for (const out of t.decls.filter((d) => d.kind === 'output')) {
        const text = JSON.stringify(out.value, (_k, v) => (v instanceof Expr ? v.raw : v));
        for (const s of secureHere) expect(new RegExp(`\\b${s}\\b`).test(text), `${t.file} output ${out.name} uses ${s}`).toBe(false);
      }
    }
    // Passed on to the Key Vault module only (which stores them as secrets), not to the app.
    expect(raw(get(moduleParams('app/keyvault.bicep'), 'backupS3SecretAccessKey'))).toBe('backupS3SecretAccessKey');
    const api = JSON.stringify(moduleParams('app/api.bicep'), (_k, v) => (v instanceof Expr ? v.raw : v));
    expect(api).not.toMatch(/backupS3AccessKeyId\b|backupS3SecretAccessKey\b/);
  });

  it('main.parameters.json maps every required param and nothing unknown', () => {
    const names = main.decls.filter((d) => d.kind === 'param').map((d) => d.name);
    for (const k of Object.keys(params)) expect(names, k).toContain(k);
    for (const d of main.decls.filter((x) => x.kind === 'param' && x.value === undefined))
      expect(Object.keys(params), d.name).toContain(d.name);
    expect(params.environmentName?.value).toBe('${AZURE_ENV_NAME}');
  });
});

describe('Function App', () => {
  const api = template('app/api.bicep');
  const site = (): Resource => one('Microsoft.Web/sites');
  const plan = (): Resource => one('Microsoft.Web/serverfarms');

  it('runs on Flex Consumption (FC1), Linux', () => {
    expect(get(plan().body, 'sku.name')).toBe('FC1');
    expect(get(plan().body, 'sku.tier')).toBe('FlexConsumption');
    expect(get(plan().body, 'properties.reserved')).toBe(true);
    expect(raw(get(site().body, 'properties.serverFarmId'))).toBe(`${plan().symbol}.id`);
    expect(get(site().body, 'kind')).toBe('functionapp,linux');
  });

  it('runs Node 22', () => {
    expect(get(site().body, 'properties.functionAppConfig.runtime.name')).toBe('node');
    expect(get(site().body, 'properties.functionAppConfig.runtime.version')).toBe('22');
  });

  it('is HTTPS only with TLS 1.2 and no FTP(S) or publishing passwords', () => {
    expect(get(site().body, 'properties.httpsOnly')).toBe(true);
    expect(get(site().body, 'properties.siteConfig.minTlsVersion')).toBe('1.2');
    expect(get(site().body, 'properties.siteConfig.scmMinTlsVersion')).toBe('1.2');
    expect(get(site().body, 'properties.siteConfig.ftpsState')).toBe('Disabled');
    const policies = declared('Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => get(p.body, 'name')).sort()).toEqual(['ftp', 'scm']);
    for (const p of policies) expect(get(p.body, 'properties.allow')).toBe(false);
  });

  it('has exactly one user-assigned identity, also used for deployment and Key Vault references', () => {
    expect(get(site().body, 'identity.type')).toBe('UserAssigned');
    const ids = get(site().body, 'identity.userAssignedIdentities') as Obj;
    expect(Object.keys(ids)).toEqual(['${identityId}']);
    expect(raw(get(site().body, 'properties.keyVaultReferenceIdentity'))).toBe('identityId');
    expect(get(site().body, 'properties.functionAppConfig.deployment.storage.authentication.type')).toBe('UserAssignedIdentity');
    expect(raw(get(site().body, 'properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId'))).toBe(
      'identityId',
    );
    expect(raw(get(moduleParams('app/api.bicep'), 'identityId'))).toBe('identity.outputs.id');
    expect(raw(get(moduleParams('app/api.bicep'), 'identityClientId'))).toBe('identity.outputs.clientId');
  });

  describe('app settings', () => {
    const config = (): Resource[] => declared('Microsoft.Web/sites/config').filter((c) => get(c.body, 'name') === 'appsettings');
    const settings = (): Obj => {
      const c = config();
      expect(c, 'one appsettings resource').toHaveLength(1);
      const props = get(c[0]!.body, 'properties');
      expect(
        props !== null && typeof props === 'object' && !Array.isArray(props) && !(props instanceof Expr) && !(props instanceof ForExpr),
        'appsettings is an object literal',
      ).toBe(true);
      return props as Obj;
    };

    it('are one complete appsettings resource of the Function App', () => {
      expect(config()).toHaveLength(1);
      expect(raw(get(config()[0]!.body, 'parent'))).toBe(site().symbol);
      expect(Object.keys(settings()).length).toBeGreaterThan(10);
      // No app settings hidden in siteConfig, where they would be replaced by the resource above.
      expect(get(site().body, 'properties.siteConfig.appSettings')).toBeUndefined();
      expect(get(site().body, 'properties.siteConfig.connectionStrings')).toBeUndefined();
    });

    it('connect the host to its storage with the managed identity', () => {
      const s = settings();
      expect(paramOf(api, s.AzureWebJobsStorage__accountName)?.name).toBe('hostStorageAccountName');
      expect(s.AzureWebJobsStorage__credential).toBe('managedidentity');
      expect(paramOf(api, s.AzureWebJobsStorage__clientId)?.name).toBe('identityClientId');
      expect(Object.keys(s)).not.toContain('AzureWebJobsStorage');
      expect(
        Object.keys(s)
          .filter((k) => /^AzureWebJobsStorage__/.test(k))
          .sort(),
      ).toEqual(['AzureWebJobsStorage__accountName', 'AzureWebJobsStorage__clientId', 'AzureWebJobsStorage__credential']);
    });

    it('select the Azure adapters and name the identity', () => {
      const s = settings();
      expect(s.STORE).toBe('cosmos');
      expect(s.KEY_PROVIDER).toBe('keyvault');
      expect(s.OPERATOR_AUTH).toBe('oidc');
      expect(paramOf(api, s.AZURE_CLIENT_ID)?.name).toBe('identityClientId');
      const wiring: Record<string, string> = {
        COSMOS_DATABASE: 'cosmosDatabaseName',
        KEY_VAULT_URL: 'keyVault.outputs.uri',
        KEY_VAULT_KEY_TYPE: "keyVaultSku == 'premium' ? 'RSA-HSM' : 'RSA'",
        BLOB_ACCOUNT_URL: 'filesStorage.outputs.blobEndpoint',
        OPERATOR_OIDC_ISSUER: 'operatorOidcIssuer',
        OPERATOR_OIDC_AUDIENCE: 'operatorOidcAudience',
        OPERATOR_OIDC_ROLE: 'operatorOidcRole',
      };
      const passed = moduleParams('app/api.bicep');
      for (const [name, source] of Object.entries(wiring)) {
        const p = paramOf(api, s[name]);
        expect(p, name).toBeDefined();
        expect(raw(passed[p!.name]), name).toBe(source);
      }
      // Every Cosmos DB account, as the comma-separated lists shared/config reads (evaluated
      // for 1 and 3 accounts under 'N Cosmos DB accounts' below).
      expect(raw(s.COSMOS_ENDPOINT)).toBe("join(cosmosEndpoints, ',')");
      expect((passed.cosmosEndpoints as ForExpr).header).toBe('i in range(0, cosmosAccountCount)');
      expect(raw((passed.cosmosEndpoints as ForExpr).body)).toBe('cosmos[i].outputs.endpoint');
    });

    it("create tenant containers through Azure Resource Manager: the account resource id and this cloud's ARM endpoint, never a key", () => {
      const s = settings();
      expect(Object.keys(s)).not.toContain('COSMOS_KEY');
      expect(raw(s.COSMOS_ACCOUNT_RESOURCE_ID)).toBe("join(cosmosAccountResourceIds, ',')");
      const ids = get(moduleParams('app/api.bicep'), 'cosmosAccountResourceIds') as ForExpr;
      expect(ids.header).toBe('i in range(0, cosmosAccountCount)');
      expect(raw(ids.body)).toBe('cosmos[i].outputs.accountId');
      expect(raw(decl(template('app/cosmos.bicep'), 'output', 'accountId')?.value)).toBe('account.id');
      expect(raw(s.COSMOS_ARM_ENDPOINT)).toBe('environment().resourceManager');
      // The role that lets the identity do it is granted on the database the app is told to use.
      const names = get(moduleParams('app/rbac.bicep'), 'cosmosAccountNames') as ForExpr;
      expect(names.header).toBe('i in range(0, cosmosAccountCount)');
      expect(raw(names.body)).toBe('cosmos[i].outputs.accountName');
      expect(raw(get(moduleParams('app/rbac.bicep'), 'cosmosDatabaseName'))).toBe('cosmosDatabaseName');
      expect(raw(get(moduleParams('app/cosmos.bicep'), 'databaseName'))).toBe('cosmosDatabaseName');
      expect(raw(get(moduleParams('app/rbac.bicep'), 'grantTenantContainerManagement'))).toBe('grantTenantContainerManagement');
    });

    it('send telemetry with Entra auth', () => {
      const s = settings();
      expect(raw(s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING)).toBe("'Authorization=AAD;ClientId=${identityClientId}'");
    });

    it('never fall back to local backup stand-ins in Azure', () => {
      expect(settings().BACKUP_LOCAL_FALLBACK).toBe('off');
    });

    it('let the host pass exactly the uploads the app accepts: FUNCTIONS_REQUEST_BODY_SIZE_LIMIT = MAX_FILE_BYTES', () => {
      const s = settings();
      expect(raw(s.MAX_FILE_BYTES)).toBe('string(maxFileBytes)');
      expect(raw(s.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)).toBe('string(maxFileBytes)');
      expect(decl(api, 'param', 'maxFileBytes')?.value).toBe(Number(SETTINGS.MAX_FILE_BYTES.default));
      expect(raw(get(moduleParams('app/api.bicep'), 'maxFileBytes'))).toBe('maxFileBytes');
      expect(decl(template('main.bicep'), 'param', 'maxFileBytes')?.value).toBe(Number(SETTINGS.MAX_FILE_BYTES.default));
      // The local settings of `func start` agree.
      const local = JSON.parse(readFileSync(join(ROOT, 'local.settings.sample.json'), 'utf8')).Values as Record<string, string>;
      expect(local.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).toBe(local.MAX_FILE_BYTES);
      expect(local.MAX_FILE_BYTES).toBe(SETTINGS.MAX_FILE_BYTES.default);
    });

    it('allow browser calls (CORS) from exactly the configured origins, in the platform and in the app settings alike', () => {
      expect(raw(settings().CORS_ALLOWED_ORIGINS)).toBe('corsAllowedOrigins');
      expect(raw(get(site().body, 'properties.siteConfig.cors.allowedOrigins'))).toBe('corsOrigins');
      expect(raw(decl(api, 'var', 'corsOrigins')?.value)).toBe("empty(corsAllowedOrigins) ? [] : split(corsAllowedOrigins, ',')");
      expect(get(site().body, 'properties.siteConfig.cors.supportCredentials')).toBe(false);
      expect(decl(api, 'param', 'corsAllowedOrigins')?.value).toBe('');
      expect(raw(get(moduleParams('app/api.bicep'), 'corsAllowedOrigins'))).toBe('corsAllowedOrigins');
      expect(decl(template('main.bicep'), 'param', 'corsAllowedOrigins')?.value).toBe('');
    });

    it("give the app the backup retention that the Azure tier's lifecycle rule and write-once window are derived from", () => {
      const main = template('main.bicep');
      expect(raw(settings().BACKUP_RETENTION)).toBe('backupRetention');
      expect(raw(get(moduleParams('app/api.bicep'), 'backupRetention'))).toBe('backupRetention');
      expect(raw(decl(main, 'var', 'backupRetention')?.value)).toBe(
        "'daily=${backupRetentionDaily},weekly=${backupRetentionWeekly},monthly=${backupRetentionMonthly}'",
      );
      // The defaults are the app's own default retention.
      const d = (n: string) => decl(main, 'param', n)?.value;
      expect(`daily=${d('backupRetentionDaily')},weekly=${d('backupRetentionWeekly')},monthly=${d('backupRetentionMonthly')}`).toBe(
        SETTINGS.BACKUP_RETENTION.default,
      );
      // The lifecycle backstop deletes only past the longest window the app keeps (a month is
      // 31 days in the app's calendar) and past the write-once window.
      const lifecycle = raw(decl(main, 'var', 'backupLifecycleDays')?.value);
      expect(lifecycle).toBe(
        'max(backupRetentionDaily, backupRetentionWeekly * 7, backupRetentionMonthly * 31, backupImmutabilityDays) + 2',
      );
      expect(raw(get(moduleParams('app/storage-backup.bicep'), 'retentionDays'))).toBe('backupLifecycleDays');
      // The write-once window ends before the app deletes a daily chain it no longer keeps.
      expect(d('backupImmutabilityDays') as number).toBeLessThanOrEqual(d('backupRetentionDaily') as number);
      expect(raw(get(moduleParams('app/storage-backup.bicep'), 'immutabilityDays'))).toBe('backupImmutabilityDays');
    });

    it('contain no key, secret or connection string', () => {
      const s = settings();
      const secretSettings = Object.entries(SETTINGS)
        .filter(([, def]) => (def as { secret?: boolean }).secret)
        .map(([k]) => k);
      expect(secretSettings).toEqual(expect.arrayContaining(['COSMOS_KEY', 'BLOB_CONNECTION_STRING', 'OPERATOR_KEY', 'LOCAL_MASTER_KEY']));
      // Secrets never appear as values; the only secret settings present are the S3 tier's
      // credentials, and those must be Key Vault references (checked below).
      const keyVaultReferenced = new Set(['BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID', 'BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY']);
      for (const name of secretSettings.filter((n) => !keyVaultReferenced.has(n))) expect(Object.keys(s), name).not.toContain(name);

      const notSecrets = new Set([
        'KEY_PROVIDER',
        'KEY_VAULT_URL',
        'KEY_VAULT_KEY_TYPE',
        'AzureWebJobsStorage__credential',
        'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
      ]);
      const looksSecret = /KEY|SECRET|PASSWORD|PWD|TOKEN|CONNECTION_?STRING|SAS|CREDENTIAL/i;
      const flagged = Object.keys(s).filter((k) => looksSecret.test(k) && !notSecrets.has(k));
      expect(flagged.sort()).toEqual([
        'APPLICATIONINSIGHTS_CONNECTION_STRING',
        'BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID',
        'BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY',
      ]);

      // Credentials that Entra cannot replace are Key Vault references (or empty when unused).
      for (const name of ['BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID', 'BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY']) {
        const v = resolve(api, s[name]);
        expect(v, name).toBeInstanceOf(Expr);
        const literals = stringLiterals((v as Expr).raw);
        expect(
          literals.some((lit) => lit.startsWith('@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/')),
          name,
        ).toBe(true);
        for (const lit of literals) expect(lit === '' || lit.startsWith('@Microsoft.KeyVault(SecretUri='), `${name}: ${lit}`).toBe(true);
      }

      // The App Insights connection string is not a credential: it comes from a component
      // that refuses local (key) auth, so ingestion also needs the identity's token.
      expect(paramOf(api, s.APPLICATIONINSIGHTS_CONNECTION_STRING)?.name).toBe('applicationInsightsConnectionString');
      expect(raw(get(moduleParams('app/api.bicep'), 'applicationInsightsConnectionString'))).toBe(
        'monitoring.outputs.applicationInsightsConnectionString',
      );
      const out = decl(template('app/monitoring.bicep'), 'output', 'applicationInsightsConnectionString');
      expect(raw(out?.value)).toBe('applicationInsights.properties.ConnectionString');
      expect(get(one('Microsoft.Insights/components').body, 'properties.DisableLocalAuth')).toBe(true);

      // Every literal value is harmless.
      for (const [k, v] of Object.entries(s)) {
        const text = typeof v === 'string' ? v : (raw(resolve(api, v)) ?? '');
        for (const p of SECRET_PATTERNS) expect(p.test(text), `${k} matches ${p}`).toBe(false);
      }
    });

    it('use only names the service or the Functions host reads', () => {
      const s = settings();
      const host = /^(AzureWebJobsStorage__|APPLICATIONINSIGHTS_)|^AZURE_CLIENT_ID$/;
      // BACKUP_*: the backup timers' settings (not yet in shared/config/schema.ts).
      const unknown = Object.keys(s).filter((k) => !(k in SETTINGS) && !host.test(k));
      expect(unknown).toEqual([]);
      expect(Object.keys(s)).not.toContain('FUNCTIONS_WORKER_RUNTIME'); // rejected on Flex Consumption
    });
  });
});

describe('no secrets anywhere in the templates', () => {
  const files = [...TEMPLATES.values()].map((t) => ({ file: t.file, text: t.text }));
  files.push({ file: 'main.parameters.json', text: readFileSync(join(INFRA, 'main.parameters.json'), 'utf8') });
  files.push({ file: '../azure.yaml', text: readFileSync(join(ROOT, 'azure.yaml'), 'utf8') });

  it.each(files)('$file has no key, SAS, connection string or list*() call', ({ file, text }) => {
    for (const p of SECRET_PATTERNS) expect(p.test(text), `${file} matches ${p}`).toBe(false);
    for (const name of ['COSMOS_KEY', 'BLOB_CONNECTION_STRING', 'OPERATOR_KEY', 'LOCAL_MASTER_KEY']) {
      expect(text.includes(name), `${file} mentions ${name}`).toBe(false);
    }
  });

  it('Key Vault secrets take their values from @secure() params only', () => {
    const secrets = declared('Microsoft.KeyVault/vaults/secrets');
    expect(secrets.length).toBeGreaterThan(0);
    for (const s of secrets) {
      const p = paramOf(s.t, get(s.body, 'properties.value'));
      expect(p?.decorators, `${s.symbol}`).toContain('@secure()');
      expect(s.condition, s.symbol).toMatch(/backupS3Enabled/);
    }
  });
});

describe('Cosmos DB', () => {
  const cosmos = template('app/cosmos.bicep');
  const props = (): Obj => get(one('Microsoft.DocumentDB/databaseAccounts').body, 'properties') as Obj;

  it('accepts Entra ID only, over TLS 1.2', () => {
    expect(props().disableLocalAuth).toBe(true);
    expect(props().disableKeyBasedMetadataWriteAccess).toBe(true);
    expect(props().minimalTlsVersion).toBe('Tls12');
  });

  it('keeps 30 days of continuous backup (point-in-time restore)', () => {
    expect(get(props(), 'backupPolicy.type')).toBe('Continuous');
    expect(get(props(), 'backupPolicy.continuousModeProperties.tier')).toBe('Continuous30Days');
  });

  it('replicates to two EU regions with automatic failover', () => {
    expect(props().enableAutomaticFailover).toBe(true);
    const locations = props().locations as Obj[];
    expect(Array.isArray(locations)).toBe(true);
    expect(locations.length).toBeGreaterThanOrEqual(2);
    expect(locations.map((l) => l.failoverPriority)).toEqual(locations.map((_l, i) => i));
    const names = locations.map((l) => paramOf(cosmos, l.locationName)?.name);
    expect(names.slice(0, 2)).toEqual(['primaryLocation', 'secondaryLocation']);
    const passed = moduleParams('app/cosmos.bicep');
    expect(raw(passed.primaryLocation)).toBe('primaryLocation');
    expect(raw(passed.secondaryLocation)).toBe('secondaryLocation');
    expect(get(props(), 'capabilities')).toBeUndefined(); // not serverless (single-region only)
  });

  it('declares the tenants database and leaves tenant containers to the app', () => {
    const db = one('Microsoft.DocumentDB/databaseAccounts/sqlDatabases');
    expect(paramOf(cosmos, get(db.body, 'name'))?.value).toBe('tenants');
    expect(decl(template('main.bicep'), 'param', 'cosmosDatabaseName')?.value).toBe('tenants');
    expect(declared('Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers')).toEqual([]);
    expect(cosmos.text).toMatch(/500 databases \+ containers[\s\S]*cannot be raised/);
  });
});

describe('Key Vault', () => {
  const kv = template('app/keyvault.bicep');
  const props = (): Obj => get(one('Microsoft.KeyVault/vaults').body, 'properties') as Obj;

  it('uses Azure RBAC, never access policies', () => {
    expect(props().enableRbacAuthorization).toBe(true);
    expect(props().accessPolicies).toBeUndefined();
    expect(declared('Microsoft.KeyVault/vaults/accessPolicies')).toEqual([]);
  });

  it('has soft delete for 90 days and purge protection', () => {
    expect(props().enableSoftDelete).toBe(true);
    expect(props().softDeleteRetentionInDays).toBe(90);
    expect(props().enablePurgeProtection).toBe(true);
  });

  it('takes its SKU and public network access from parameters', () => {
    expect(get(props(), 'sku.family')).toBe('A');
    const sku = paramOf(kv, get(props(), 'sku.name'));
    expect(allowedValues(sku)?.sort()).toEqual(['premium', 'standard']);
    const pna = paramOf(kv, props().publicNetworkAccess);
    expect(allowedValues(pna)?.sort()).toEqual(['Disabled', 'Enabled']);
    expect(props().enabledForTemplateDeployment).toBe(false);
  });
});

describe('storage accounts', () => {
  const accounts = declared('Microsoft.Storage/storageAccounts');
  const byFile = (file: string): Resource => {
    const found = accounts.filter((a) => a.t.file === file);
    expect(found, file).toHaveLength(1);
    return found[0]!;
  };
  const blobServiceOf = (file: string): Obj => {
    const found = declared('Microsoft.Storage/storageAccounts/blobServices').filter((b) => b.t.file === file);
    expect(found, file).toHaveLength(1);
    return found[0]!.body;
  };

  it('are the host, files and backup accounts', () => {
    expect(accounts.map((a) => a.t.file).sort()).toEqual(['app/storage-backup.bicep', 'app/storage-files.bicep', 'app/storage-host.bicep']);
  });

  it.each(['app/storage-host.bicep', 'app/storage-files.bicep', 'app/storage-backup.bicep'])(
    '%s: no shared key, no public blobs, HTTPS and TLS 1.2 only',
    (file) => {
      const a = byFile(file);
      expect(get(a.body, 'properties.allowSharedKeyAccess')).toBe(false);
      expect(get(a.body, 'properties.allowBlobPublicAccess')).toBe(false);
      expect(get(a.body, 'properties.minimumTlsVersion')).toBe('TLS1_2');
      expect(get(a.body, 'properties.supportsHttpsTrafficOnly')).toBe(true);
      expect(get(a.body, 'properties.defaultToOAuthAuthentication')).toBe(true);
      expect(get(a.body, 'properties.allowCrossTenantReplication')).toBe(false);
    },
  );

  it('every blob container is private', () => {
    const containers = declared('Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(containers.length).toBeGreaterThanOrEqual(2);
    for (const c of containers) expect(get(c.body, 'properties.publicAccess'), `${c.t.file}:${c.symbol}`).toBe('None');
  });

  it.each(['app/storage-files.bicep', 'app/storage-backup.bicep'])('%s: versioning and soft delete of blobs and containers', (file) => {
    const b = blobServiceOf(file);
    expect(get(b, 'properties.isVersioningEnabled')).toBe(true);
    expect(get(b, 'properties.deleteRetentionPolicy.enabled')).toBe(true);
    expect(get(b, 'properties.deleteRetentionPolicy.days')).toBeDefined();
    expect(get(b, 'properties.containerDeleteRetentionPolicy.enabled')).toBe(true);
    expect(get(b, 'properties.containerDeleteRetentionPolicy.days')).toBeDefined();
  });

  it('the backup account lives in the secondary region', () => {
    expect(raw(get(moduleParams('app/storage-backup.bicep'), 'location'))).toBe('secondaryLocation');
    expect(raw(get(moduleParams('app/storage-files.bicep'), 'location'))).toBe('primaryLocation');
  });

  it('the backups container is immutable (WORM) for a configurable number of days', () => {
    const file = 'app/storage-backup.bicep';
    const t = template(file);
    const containers = declared('Microsoft.Storage/storageAccounts/blobServices/containers').filter((c) => c.t.file === file);
    expect(containers).toHaveLength(1);
    const container = containers[0]!;
    expect(paramOf(t, get(container.body, 'name'))?.name).toBe('containerName');
    expect(raw(get(moduleParams(file), 'containerName'))).toBe('backupContainerName');
    expect(resolve(template('main.bicep'), new Expr('backupContainerName'))).toBe('backups');

    // Either version-level WORM with a default policy on the account (what these templates
    // use), or a container-level time-based retention policy.
    const account = byFile(file);
    const accountPolicy = get(
      account.body,
      'properties.immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays',
    );
    const containerPolicies = declared('Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies').filter(
      (p) => p.t.file === file,
    );
    let days: Value | undefined;
    if (accountPolicy !== undefined) {
      expect(get(account.body, 'properties.immutableStorageWithVersioning.enabled')).toBe(true);
      expect(get(container.body, 'properties.immutableStorageWithVersioning.enabled')).toBe(true);
      expect(get(blobServiceOf(file), 'properties.isVersioningEnabled')).toBe(true);
      expect(get(account.body, 'properties.immutableStorageWithVersioning.immutabilityPolicy.allowProtectedAppendWrites')).toBe(false);
      days = accountPolicy;
    } else {
      expect(containerPolicies).toHaveLength(1);
      expect(raw(get(containerPolicies[0]!.body, 'parent'))).toBe(container.symbol);
      days = get(containerPolicies[0]!.body, 'properties.immutabilityPeriodSinceCreationInDays');
    }
    if (typeof days === 'number') expect(days).toBeGreaterThanOrEqual(1);
    else {
      const p = paramOf(t, days);
      expect(p, 'immutability days come from a param').toBeDefined();
      expect(minValue(p)).toBeGreaterThanOrEqual(1);
      expect(raw(get(moduleParams(file), p!.name))).toBe('backupImmutabilityDays');
      expect(minValue(decl(template('main.bicep'), 'param', 'backupImmutabilityDays'))).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('monitoring', () => {
  it('Application Insights and Log Analytics refuse local (key) authentication', () => {
    const ai = one('Microsoft.Insights/components');
    expect(get(ai.body, 'properties.DisableLocalAuth')).toBe(true);
    expect(raw(get(ai.body, 'properties.WorkspaceResourceId'))).toMatch(/\.id$/);
    const law = one('Microsoft.OperationalInsights/workspaces');
    expect(get(law.body, 'properties.features.disableLocalAuth')).toBe(true);
  });
});

describe('role assignments', () => {
  const rbacFile = 'app/rbac.bicep';
  const rbac = template(rbacFile);
  const assignments = resourcesOf(rbac).filter((r) => r.type === 'Microsoft.Authorization/roleAssignments' && !r.existing);
  const byScope = (symbol: string): Resource[] =>
    assignments.filter((a) => raw(get(a.body, 'scope')) === symbol || raw(get(a.body, 'scope'))?.startsWith(`${symbol}[`));

  /** Name of the built-in role an assignment grants (via a commented var holding its GUID). */
  function roleName(a: Resource): string {
    const id = raw(get(a.body, 'properties.roleDefinitionId')) ?? '';
    const m = /^subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', (\w+)(\.name)?\)$/.exec(id);
    expect(m, `${a.symbol}: unexpected roleDefinitionId ${id}`).not.toBeNull();
    if (m![2]) {
      // A custom role defined in rbac.bicep itself.
      const def = resourcesOf(rbac).find((r) => r.symbol === m![1] && r.type === 'Microsoft.Authorization/roleDefinitions' && !r.existing);
      expect(def, `${a.symbol}: ${m![1]} is a role definition of rbac.bicep`).toBeDefined();
      return `custom:${def!.symbol}`;
    }
    const guid = resolve(rbac, new Expr(m![1]!));
    expect(typeof guid, `${a.symbol} role id`).toBe('string');
    const name = ALLOWED_ROLES[guid as string];
    expect(name, `${a.symbol} grants ${guid}`).toBeDefined();
    return name!;
  }

  it('live in rbac.bicep only (Azure RBAC, custom roles and Cosmos DB data-plane RBAC)', () => {
    const rbacTypes = [
      'Microsoft.Authorization/roleAssignments',
      'Microsoft.Authorization/roleDefinitions',
      'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
      'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions',
    ];
    const elsewhere = allResources().filter((r) => rbacTypes.includes(r.type) && r.t.file !== rbacFile);
    expect(elsewhere.map((r) => `${r.t.file}:${r.symbol}`)).toEqual([]);
    for (const t of TEMPLATES.values()) {
      if (t.file === rbacFile) continue;
      expect(/roleAssignments|sqlRoleAssignments|roleDefinitions/.test(t.code), `${t.file}`).toBe(false);
    }
    expect(assignments.length).toBeGreaterThanOrEqual(5);
  });

  it('go to the app identity only, as a service principal', () => {
    for (const a of assignments) {
      expect(raw(get(a.body, 'properties.principalId')), a.symbol).toBe('appPrincipalId');
      expect(get(a.body, 'properties.principalType'), a.symbol).toBe('ServicePrincipal');
    }
    expect(raw(get(moduleParams('app/rbac.bicep'), 'appPrincipalId'))).toBe('identity.outputs.principalId');
    expect(rbac.code).not.toMatch(/'(User|Group|ForeignGroup)'/);
    expect(rbac.decls.filter((d) => d.kind === 'param' && /principal/i.test(d.name)).map((d) => d.name)).toEqual(['appPrincipalId']);
  });

  it('use only allow-listed role ids, each commented with its name', () => {
    const guids = rbac.text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? [];
    expect(guids.length).toBeGreaterThan(0);
    for (const g of guids) expect(ALLOWED_ROLES[g.toLowerCase()], g).toBeDefined();
    for (const line of rbac.text.split('\n')) {
      const g = /'([0-9a-f-]{36})'/i.exec(line);
      if (!g) continue;
      expect(line, g[1]).toMatch(new RegExp(`//\\s*${ALLOWED_ROLES[g[1]!.toLowerCase()]!}\\s*$`));
    }
  });

  it('never grant Owner, Contributor, User Access Administrator or other admin roles', () => {
    for (const t of TEMPLATES.values()) {
      for (const [guid, name] of Object.entries(FORBIDDEN_ROLES))
        expect(t.text.toLowerCase().includes(guid), `${t.file} uses ${name}`).toBe(false);
      expect(/'\*'|\/\*'/.test(t.code), `${t.file} has a wildcard action`).toBe(false);
    }
  });

  it('grant exactly the expected roles on the expected resources', () => {
    const granted = assignments.map((a) => `${roleName(a)} @ ${raw(get(a.body, 'scope'))}`).sort();
    expect(granted).toEqual(
      [
        'Storage Blob Data Owner @ hostStorage',
        'Storage Blob Data Contributor @ filesStorage',
        'Storage Blob Data Contributor @ backupStorage',
        'Monitoring Metrics Publisher @ applicationInsights',
        'Key Vault Crypto Officer @ keyVault',
        'Key Vault Secrets User @ s3Secrets[i]',
        'custom:tenantContainerManagerRole @ cosmosDatabases[i]',
      ].sort(),
    );
    // Each scope symbol is the existing resource named by the matching module param.
    const scopes: Record<string, [string, string]> = {
      hostStorage: ['hostStorageAccountName', 'hostStorage.outputs.name'],
      filesStorage: ['filesStorageAccountName', 'filesStorage.outputs.name'],
      backupStorage: ['backupStorageAccountName', 'backupStorage.outputs.name'],
      applicationInsights: ['applicationInsightsName', 'monitoring.outputs.applicationInsightsName'],
      keyVault: ['keyVaultName', 'keyVault.outputs.name'],
    };
    const passed = moduleParams('app/rbac.bicep');
    for (const [symbol, [param, source]] of Object.entries(scopes)) {
      const r = resourcesOf(rbac).find((x) => x.symbol === symbol);
      expect(r?.existing, symbol).toBe(true);
      expect(raw(get(r!.body, 'name')), symbol).toBe(param);
      expect(raw(passed[param]), param).toBe(source);
    }
    // The Cosmos DB accounts: one existing resource per name in cosmosAccountNames.
    const accounts = resourcesOf(rbac).find((x) => x.symbol === 'cosmosAccounts');
    expect(accounts?.existing).toBe(true);
    expect(accounts?.loop?.header).toBe('accountName in cosmosAccountNames');
    expect(raw(get(accounts!.body, 'name'))).toBe('accountName');
  });

  it('Key Vault: Crypto Officer on the vault; Secrets User only on the S3 secrets, only with the S3 tier', () => {
    const onVault = byScope('keyVault');
    expect(onVault.map(roleName)).toEqual(['Key Vault Crypto Officer']);
    const secretReaders = byScope('s3Secrets');
    expect(secretReaders.map(roleName)).toEqual(['Key Vault Secrets User']);
    const reader = secretReaders[0]!;
    expect(reader.loop?.condition).toBe('backupS3Enabled');
    const secrets = resourcesOf(rbac).find((r) => r.symbol === 's3Secrets');
    expect(secrets?.type).toBe('Microsoft.KeyVault/vaults/secrets');
    expect(secrets?.existing).toBe(true);
    expect(raw(get(moduleParams('app/rbac.bicep'), 'backupS3SecretNames'))).toBe('keyVault.outputs.backupS3SecretNames');
    const out = decl(template('app/keyvault.bicep'), 'output', 'backupS3SecretNames');
    expect(raw(out?.value)).toMatch(/^backupS3Enabled \? \[.*\] : \[\]$/);
    expect(rbac.text).toMatch(/Key Vault Crypto Service Encryption User' would\s*\/\/\s*suffice for wrap\/unwrap alone/);
  });

  it('Cosmos DB: the built-in Data Contributor for the app identity, nothing else on the data plane', () => {
    const sql = resourcesOf(rbac).filter((r) => r.type === 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments');
    expect(sql).toHaveLength(1);
    const a = sql[0]!;
    // One per account (evaluated for 1 and 3 accounts under 'N Cosmos DB accounts' below).
    expect(a.loop?.header).toBe('(accountName, i) in cosmosAccountNames');
    expect(a.loop?.condition).toBeUndefined();
    expect(raw(get(a.body, 'properties.principalId'))).toBe('appPrincipalId');
    const m = /\/sqlRoleDefinitions\/\$\{(\w+)\}'$/.exec(raw(get(a.body, 'properties.roleDefinitionId')) ?? '');
    expect(m).not.toBeNull();
    expect(resolve(rbac, new Expr(m![1]!))).toBe('00000000-0000-0000-0000-000000000002');
    expect(raw(get(a.body, 'parent'))).toBe('cosmosAccounts[i]');
  });

  it('Cosmos DB control plane: only a custom role limited to SQL containers of the tenants database', () => {
    const defs = resourcesOf(rbac).filter((r) => r.type === 'Microsoft.Authorization/roleDefinitions');
    expect(defs).toHaveLength(1);
    const def = defs[0]!;
    const perms = get(def.body, 'properties.permissions') as Obj[];
    expect(perms).toHaveLength(1);
    const actions = perms[0]!.actions as string[];
    const allowed = new Set([
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/read',
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/read',
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/write',
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/delete',
    ]);
    for (const action of actions) expect(allowed.has(action), action).toBe(true);
    // All of them: write/read/delete of containers are what the app's ARM calls need
    // (test/support/arm-cosmos-standin.ts). Neither polling URL of the long-running
    // operations is read (ArmContainerAdmin confirms completion on the data plane), so
    // neither `…/containers/operationResults/read` nor the subscription-level
    // `Microsoft.DocumentDB/locations/operationsStatus/read` is granted.
    expect([...actions].sort()).toEqual([...allowed].sort());
    for (const action of [ARM_ACTIONS.containerWrite, ARM_ACTIONS.containerRead, ARM_ACTIONS.containerDelete])
      expect(actions).toContain(action);
    expect(actions).not.toContain(ARM_ACTIONS.operationStatusRead);
    expect(perms[0]!.notActions).toEqual([]);
    expect(perms[0]!.dataActions).toEqual([]);
    expect(get(def.body, 'properties.type')).toBe('CustomRole');
    expect((get(def.body, 'properties.assignableScopes') as Value[]).map((v) => raw(v))).toEqual(['resourceGroup().id']);
    const assignment = byScope('cosmosDatabases');
    expect(assignment).toHaveLength(1);
    expect(assignment[0]!.loop?.header).toBe('(accountName, i) in cosmosAccountNames');
    expect(assignment[0]!.loop?.condition).toBe('grantTenantContainerManagement');
    expect(def.condition).toBe('grantTenantContainerManagement');
    const db = resourcesOf(rbac).find((r) => r.symbol === 'cosmosDatabases');
    expect(db?.type).toBe('Microsoft.DocumentDB/databaseAccounts/sqlDatabases');
    expect(raw(get(db!.body, 'name'))).toBe('cosmosDatabaseName');
  });
});

describe('cost and network knobs', () => {
  const main = template('main.bicep');
  const cosmos = template('app/cosmos.bicep');

  it('each tenant container gets its own autoscale throughput from a parameter (the app asks for it: COSMOS_CONTAINER_MAX_THROUGHPUT); the database shares none (25-container limit)', () => {
    const api = template('app/api.bicep');
    const settings = get(
      declared('Microsoft.Web/sites/config').find((c) => get(c.body, 'name') === 'appsettings')!.body,
      'properties',
    ) as Obj;
    expect(raw(settings.COSMOS_CONTAINER_MAX_THROUGHPUT)).toBe(
      "tenantContainerMaxThroughput > 0 ? string(tenantContainerMaxThroughput) : ''",
    );
    expect(raw(get(moduleParams('app/api.bicep'), 'tenantContainerMaxThroughput'))).toBe('tenantContainerMaxThroughput');
    // Autoscale's smallest maximum is 1000 RU/s (it then scales between 100 and 1000).
    expect(decl(main, 'param', 'tenantContainerMaxThroughput')?.value).toBe(1000);
    expect(decl(api, 'param', 'tenantContainerMaxThroughput')?.value).toBe(1000);
    // No throughput at database level: at most 25 containers can share it, one container per tenant.
    const db = one('Microsoft.DocumentDB/databaseAccounts/sqlDatabases');
    expect(get(db.body, 'properties.options')).toBeUndefined();
    expect(decl(cosmos, 'param', 'tenantDatabaseMaxThroughput')).toBeUndefined();
    // The setting is one the app reads.
    expect(Object.keys(SETTINGS)).toContain('COSMOS_CONTAINER_MAX_THROUGHPUT');
  });

  it('zone redundancy where the plan allows it: Flex Consumption plan, Cosmos DB in both regions, host storage', () => {
    expect(decl(main, 'param', 'zoneRedundant')?.value).toBe(false);
    expect(raw(get(one('Microsoft.Web/serverfarms').body, 'properties.zoneRedundant'))).toBe('zoneRedundant');
    expect(raw(get(moduleParams('app/api.bicep'), 'zoneRedundant'))).toBe('zoneRedundant');
    const locations = get(one('Microsoft.DocumentDB/databaseAccounts').body, 'properties.locations') as Obj[];
    expect(locations).toHaveLength(2);
    for (const l of locations) expect(raw(l.isZoneRedundant)).toBe('zoneRedundant');
    expect(raw(get(moduleParams('app/cosmos.bicep'), 'zoneRedundant'))).toBe('zoneRedundant');
    expect(raw(get(moduleParams('app/storage-host.bicep'), 'skuName'))).toBe("zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'");
    // Files and backups are zone-redundant (ZRS) in any case.
    expect(decl(template('app/storage-files.bicep'), 'param', 'skuName')?.value).toBe('Standard_ZRS');
    expect(decl(template('app/storage-backup.bicep'), 'param', 'skuName')?.value).toBe('Standard_ZRS');
  });

  describe('vnetEnabled: private endpoints for every dependency, public access off', () => {
    const network = template('app/network.bicep');
    const mod = main.decls.find((d) => d.kind === 'module' && d.type === 'app/network.bicep');

    it('is off by default and deploys the network module only when on', () => {
      expect(decl(main, 'param', 'vnetEnabled')?.value).toBe(false);
      expect(mod?.condition).toBe('vnetEnabled');
      expect(raw(decl(main, 'var', 'dependencyNetworkAccess')?.value)).toBe("vnetEnabled ? 'Disabled' : 'Enabled'");
    });

    it('gives every dependency a private endpoint in its privatelink DNS zone', () => {
      const endpoints = (get(mod?.value, 'params.endpoints') as Obj[]).map((e) => `${raw(e.id)}#${e.group}`);
      expect(endpoints.sort()).toEqual(
        [
          'hostStorage.outputs.id#blob',
          'hostStorage.outputs.id#queue',
          'hostStorage.outputs.id#table',
          'filesStorage.outputs.id#blob',
          'backupStorage.outputs.id#blob',
          'keyVault.outputs.id#vault',
        ].sort(),
      );
      // Plus one Sql endpoint per Cosmos DB account (evaluated under 'N Cosmos DB accounts').
      const ids = get(mod?.value, 'params.cosmosAccountIds') as ForExpr;
      expect(ids.header).toBe('i in range(0, cosmosAccountCount)');
      expect(raw(ids.body)).toBe('cosmos[i].outputs.accountId');
      expect(raw(decl(network, 'var', 'allEndpoints')?.value)).toBe('concat(endpoints, cosmosEndpoints)');
      const pe = declared('Microsoft.Network/privateEndpoints')[0]!;
      expect(pe.loop?.header).toBe('e in allEndpoints');
      expect(raw(get(pe.body, 'properties.subnet.id'))).toBe('vnet.properties.subnets[1].id');
      const zoneGroup = declared('Microsoft.Network/privateEndpoints/privateDnsZoneGroups')[0]!;
      expect(zoneGroup.loop?.header).toBe('(e, i) in allEndpoints');
      const links = declared('Microsoft.Network/privateDnsZones/virtualNetworkLinks')[0]!;
      expect(raw(get(links.body, 'properties.virtualNetwork.id'))).toBe('vnet.id');
      expect(get(links.body, 'properties.registrationEnabled')).toBe(false);
      const zones = decl(network, 'var', 'zones')?.value as Obj;
      expect(Object.keys(zones).sort()).toEqual(['Sql', 'blob', 'queue', 'table', 'vault']);
    });

    it('integrates the app into a subnet delegated to Flex Consumption', () => {
      const subnets = get(one('Microsoft.Network/virtualNetworks').body, 'properties.subnets') as Obj[];
      expect(subnets.map((x) => x.name)).toEqual(['app', 'private-endpoints']);
      expect(get((get(subnets[0], 'properties.delegations') as Obj[])[0], 'properties.serviceName')).toBe('Microsoft.App/environments');
      expect(raw(get(moduleParams('app/api.bicep'), 'virtualNetworkSubnetId'))).toBe("vnetEnabled ? network.outputs.appSubnetId : ''");
      expect(raw(get(one('Microsoft.Web/sites').body, 'properties.virtualNetworkSubnetId'))).toBe(
        'empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId',
      );
    });

    it('turns public network access off on every storage account, Cosmos DB and Key Vault', () => {
      for (const file of ['app/storage-host.bicep', 'app/storage-files.bicep', 'app/storage-backup.bicep', 'app/cosmos.bicep'])
        expect(raw(get(moduleParams(file), 'publicNetworkAccess')), file).toBe('dependencyNetworkAccess');
      for (const account of declared('Microsoft.Storage/storageAccounts')) {
        expect(raw(get(account.body, 'properties.publicNetworkAccess')), account.t.file).toBe('publicNetworkAccess');
        expect(raw(get(account.body, 'properties.networkAcls.defaultAction')), account.t.file).toBe(
          "publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'",
        );
      }
      expect(raw(get(one('Microsoft.DocumentDB/databaseAccounts').body, 'properties.publicNetworkAccess'))).toBe('publicNetworkAccess');
    });
  });
});

describe('N Cosmos DB accounts (cosmosAccountCount): what a deployment creates, evaluated from the templates', () => {
  const base = { environmentName: 'ledger-test', operatorOidcAudience: 'api://ledger' };
  const deploy = (params: Record<string, unknown>): Deployment => new Deployment(TEMPLATES, 'main.bicep', { ...base, ...params });
  const settingsOf = (d: Deployment): Record<string, unknown> => {
    const found = d.resources('Microsoft.Web/sites/config').filter((r) => r.name === 'appsettings');
    expect(found).toHaveLength(1);
    return found[0]!.evaluated().properties as Record<string, unknown>;
  };
  const accountsOf = (d: Deployment) => d.resources('Microsoft.DocumentDB/databaseAccounts');
  const token = (d: Deployment): string => d.expr('resourceToken', new Map()) as string;

  it('is 1 by default, at least 1, and mapped from the azd environment', () => {
    const main = template('main.bicep');
    const p = decl(main, 'param', 'cosmosAccountCount');
    expect(p?.value).toBe(1);
    expect(minValue(p)).toBe(1);
    const params = JSON.parse(readFileSync(join(INFRA, 'main.parameters.json'), 'utf8')).parameters as Record<string, { value: string }>;
    expect(params.cosmosAccountCount?.value).toBe('${COSMOS_ACCOUNT_COUNT=1}');
    expect(accountsOf(deploy({}))).toHaveLength(1);
  });

  for (const n of [1, 3]) {
    describe(`with ${n} account${n > 1 ? 's' : ''}`, () => {
      const d = deploy({ cosmosAccountCount: n, vnetEnabled: true });
      const accounts = (): ReturnType<typeof accountsOf> => accountsOf(d);
      const rg = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ledger-test`;

      it(`deploys ${n} accounts, named by index (account 0 keeps the single-account name), each with the tenants database, Entra only`, () => {
        const names = accounts().map((a) => a.name);
        const t = token(d);
        expect(names).toEqual(Array.from({ length: n }, (_x, i) => (i === 0 ? `cosmos-${t}` : `cosmos-${t}-${i}`)));
        for (const a of accounts()) {
          expect(a.id).toBe(`${rg}/providers/Microsoft.DocumentDB/databaseAccounts/${a.name}`);
          const props = a.evaluated().properties as Record<string, unknown>;
          expect(props.disableLocalAuth).toBe(true);
          expect(props.publicNetworkAccess).toBe('Disabled'); // vnetEnabled
          expect((props.locations as { locationName: string }[]).map((l) => l.locationName)).toEqual(['westeurope', 'northeurope']);
        }
        const dbs = d.resources('Microsoft.DocumentDB/databaseAccounts/sqlDatabases').map((x) => x.id);
        expect(dbs).toEqual(accounts().map((a) => `${a.id}/sqlDatabases/tenants`));
        // No containers: the app creates one per tenant, each with its own autoscale maximum.
        expect(d.resources('Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers')).toEqual([]);
      });

      it('gives the app every account, in index order, in COSMOS_ENDPOINT and COSMOS_ACCOUNT_RESOURCE_ID', () => {
        const s = settingsOf(d);
        expect(s.COSMOS_ENDPOINT).toBe(
          accounts()
            .map((a) => `{${a.id}#properties.documentEndpoint}`)
            .join(','),
        );
        expect(s.COSMOS_ACCOUNT_RESOURCE_ID).toBe(
          accounts()
            .map((a) => a.id)
            .join(','),
        );
        expect(s.COSMOS_DATABASE).toBe('tenants');
        expect(s.COSMOS_CONTAINER_MAX_THROUGHPUT).toBe('1000');
        expect(s).not.toHaveProperty('COSMOS_KEY');
        // The lists are what shared/config reads: as many ids as endpoints.
        expect(String(s.COSMOS_ACCOUNT_RESOURCE_ID).split(',')).toHaveLength(n);
        expect(d.output('COSMOS_ENDPOINT')).toBe(s.COSMOS_ENDPOINT);
      });

      it('grants the app identity, and only it, the data-plane role on every account', () => {
        const principal = `{/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ledger-test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-api-${token(d)}#properties.principalId}`;
        const sql = d.resources('Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments');
        expect(sql.map((a) => a.id.slice(0, a.id.lastIndexOf('/sqlRoleAssignments/')))).toEqual(accounts().map((a) => a.id));
        for (const [i, a] of sql.entries()) {
          const body = a.evaluated();
          const props = body.properties as Record<string, unknown>;
          expect(props.principalId).toBe(principal);
          expect(props.scope).toBe(accounts()[i]!.id);
          expect(props.roleDefinitionId).toBe(`${accounts()[i]!.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002`);
        }
        expect(new Set(sql.map((a) => a.name)).size).toBe(n);
      });

      it('lets the app create tenant containers in the tenants database of every account (one custom role)', () => {
        const defs = d.resources('Microsoft.Authorization/roleDefinitions');
        expect(defs).toHaveLength(1);
        const onDatabases = d
          .resources('Microsoft.Authorization/roleAssignments')
          .filter((a) => a.id.includes('/sqlDatabases/'))
          .map((a) => a.evaluated());
        expect(onDatabases.map((a) => a.scope)).toEqual(accounts().map((a) => `${a.id}/sqlDatabases/tenants`));
        for (const a of onDatabases) {
          const props = a.properties as Record<string, unknown>;
          expect(props.roleDefinitionId).toBe(
            `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${defs[0]!.name}`,
          );
          expect(props.principalType).toBe('ServicePrincipal');
        }
        // Without the parameter, no account gets it.
        const off = deploy({ cosmosAccountCount: n, grantTenantContainerManagement: false });
        expect(off.resources('Microsoft.Authorization/roleAssignments').filter((a) => a.id.includes('/sqlDatabases/'))).toEqual([]);
        expect(off.resources('Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments')).toHaveLength(n);
      });

      it('with vnetEnabled, gives every account its own private endpoint (group Sql) in the Cosmos DB privatelink zone', () => {
        const pes = d.resources('Microsoft.Network/privateEndpoints').map((p) => p.evaluated());
        const sql = pes.filter((p) => JSON.stringify(p).includes('"groupIds":["Sql"]'));
        expect(sql.map((p) => p.name)).toEqual(Array.from({ length: n }, (_x, i) => (i === 0 ? 'pe-cosmos' : `pe-cosmos-${i}`)));
        const targets = sql.map((p) => {
          const conn = (p.properties as { privateLinkServiceConnections: { properties: { privateLinkServiceId: string } }[] })
            .privateLinkServiceConnections;
          return conn[0]!.properties.privateLinkServiceId;
        });
        expect(targets).toEqual(accounts().map((a) => a.id));
        // The other dependencies keep theirs.
        expect(pes.length).toBe(6 + n);
        const zoneGroups = d.resources('Microsoft.Network/privateEndpoints/privateDnsZoneGroups').map((z) => z.evaluated());
        const cosmosZones = zoneGroups.filter((z) => JSON.stringify(z).includes('privatelink.documents.azure.com'));
        expect(cosmosZones).toHaveLength(n);
        // Without vnetEnabled: no network, public access on.
        const open = deploy({ cosmosAccountCount: n });
        expect(open.resources('Microsoft.Network/privateEndpoints')).toEqual([]);
        for (const a of accountsOf(open)) expect((a.evaluated().properties as Record<string, unknown>).publicNetworkAccess).toBe('Enabled');
      });
    });
  }

  it('raising the count appends accounts: every account, role assignment and endpoint of N stays the same in N+2', () => {
    const one = deploy({ cosmosAccountCount: 1, vnetEnabled: true });
    const three = deploy({ cosmosAccountCount: 3, vnetEnabled: true });
    const ids = (d: Deployment, type: string): string[] => d.resources(type).map((r) => r.id);
    for (const type of [
      'Microsoft.DocumentDB/databaseAccounts',
      'Microsoft.DocumentDB/databaseAccounts/sqlDatabases',
      'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
      'Microsoft.Authorization/roleAssignments',
      'Microsoft.Authorization/roleDefinitions',
      'Microsoft.Network/privateEndpoints',
    ])
      for (const id of ids(one, type)) expect(ids(three, type), type).toContain(id);
    const e1 = String(settingsOf(one).COSMOS_ENDPOINT).split(',');
    const e3 = String(settingsOf(three).COSMOS_ENDPOINT).split(',');
    expect(e3.slice(0, e1.length)).toEqual(e1);
  });
});
