/**
 * The Postgres side of the alternating-users rotation (AWS's "multi-user" strategy): the app logs
 * in as one of two login roles, `<user>` and `<user>_clone`, which are members of one group role
 * that owns the app's objects; each rotation sets the password of the role the app is *not* using
 * and then points the secret at it, so the logins the fleet holds stay valid until the next one.
 * Every statement runs as the RDS master (whose secret the app never reads).
 */
import type pg from 'pg';

/** What the rotation needs of a Postgres connection (a real `pg.Client`). */
export type SqlClient = Pick<pg.Client, 'query' | 'escapeIdentifier' | 'escapeLiteral'>;

/** The two login roles of one app user and the group role both act as. */
export interface AppRoles {
  /** Group role (NOLOGIN) that owns the app's tables; sessions of either login run as it. */
  group: string;
  /** The login roles: `<user>` and `<user>_clone`. */
  logins: [string, string];
  /** The app's database (privileges are granted on it and its `public` schema). */
  database: string;
}

const CLONE_SUFFIX = '_clone';

/** The other login of an alternating pair: `app` ↔ `app_clone`. */
export function otherLogin(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username + CLONE_SUFFIX;
}

/** Both logins of the pair `username` belongs to, the base one first. */
export function loginPair(username: string): [string, string] {
  const base = username.endsWith(CLONE_SUFFIX) ? otherLogin(username) : username;
  return [base, base + CLONE_SUFFIX];
}

async function roleExists(c: SqlClient, role: string): Promise<boolean> {
  const r = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Creates what is missing of the group and both logins, with their grants; idempotent. Tables the
 * master created before (a stack from before this rotation) are handed to the group so that the
 * app's later migrations may alter them. Returns the logins it created (they have no password yet).
 */
export async function ensureAppRoles(c: SqlClient, roles: AppRoles): Promise<string[]> {
  const id = (s: string) => c.escapeIdentifier(s);
  const group = id(roles.group);
  if (!(await roleExists(c, roles.group))) await c.query(`CREATE ROLE ${group} NOLOGIN`);
  // The master may act as the group (manage its objects, hand objects to it).
  await c.query(`GRANT ${group} TO CURRENT_USER`);
  await c.query(`GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ${id(roles.database)} TO ${group}`);
  await c.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${group}`);
  const created: string[] = [];
  for (const login of roles.logins) {
    if (!(await roleExists(c, login))) {
      await c.query(`CREATE ROLE ${id(login)} LOGIN IN ROLE ${group}`);
      created.push(login);
    }
    // Sessions act as the group, so whatever either login creates belongs to the group.
    await c.query(`ALTER ROLE ${id(login)} SET role = ${c.escapeLiteral(roles.group)}`);
  }
  const owned = await c.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
        AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER)`,
  );
  for (const { name } of owned.rows) await c.query(`ALTER TABLE public.${id(name)} OWNER TO ${group}`);
  return created;
}

/** Sets a login's password (the value never appears in a log: it is alphanumeric and quoted). */
export async function setLoginPassword(c: SqlClient, login: string, password: string): Promise<void> {
  await c.query(`ALTER ROLE ${c.escapeIdentifier(login)} WITH LOGIN PASSWORD ${c.escapeLiteral(password)}`);
}
