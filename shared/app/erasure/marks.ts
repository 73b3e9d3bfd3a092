/**
 * Personal-data marks on a type's JSON Schema (issue 14):
 *
 *   { "type": "object", "x-subject": "customerId",
 *     "properties": { "customerId": { "type": "string" },
 *                     "email": { "type": "string", "x-personal": true } } }
 *
 * - `"x-personal": true` on a top-level property: its values are personal data, stored sealed
 *   under the data subject's key and erasable.
 * - `"x-subject"` at the root names the top-level string property holding the subject's id.
 *   Without it (or when a record leaves it empty) the record is its own subject (its id).
 *
 * Pure: parsed from the schema, checked when a type schema is set (bad marks are 400).
 */
import { type FieldError, validation } from '../../domain/errors';
import { isPlainObject } from '../../domain/json';

export const PERSONAL_KEYWORD = 'x-personal';
export const SUBJECT_KEYWORD = 'x-subject';

export interface PersonalMarks {
  /** Top-level properties whose values are personal data (sorted). */
  personal: readonly string[];
  /** The top-level property naming the data subject; undefined: each record is its own subject. */
  subjectField?: string;
}

/** The marks of a schema, or undefined when it marks nothing personal. Assumes {@link checkMarks} passed. */
export function marksOf(schema: unknown): PersonalMarks | undefined {
  if (!isPlainObject(schema) || !isPlainObject(schema.properties)) return undefined;
  const personal = Object.entries(schema.properties)
    .filter(([, s]) => isPlainObject(s) && s[PERSONAL_KEYWORD] === true)
    .map(([k]) => k)
    .sort();
  if (personal.length === 0) return undefined;
  const subject = schema[SUBJECT_KEYWORD];
  return { personal, ...(typeof subject === 'string' ? { subjectField: subject } : {}) };
}

/** Every problem with the marks of a schema (empty when they are fine). */
export function markProblems(schema: unknown): FieldError[] {
  const problems: FieldError[] = [];
  if (!isPlainObject(schema)) return problems;
  const props = isPlainObject(schema.properties) ? schema.properties : undefined;
  // Marks anywhere but where they mean something are refused rather than silently ignored.
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > 64) return;
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${path}/${i}`, depth + 1);
      return;
    }
    if (!isPlainObject(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const here = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const topProperty = props !== undefined && node === props[pathTail(path)] && path.startsWith('/properties/') && depthOf(path) === 2;
      if (k === PERSONAL_KEYWORD && !topProperty)
        problems.push({ path: here, message: `"${PERSONAL_KEYWORD}" is allowed only on a top-level property (/properties/<name>)` });
      if (k === SUBJECT_KEYWORD && node !== schema)
        problems.push({ path: here, message: `"${SUBJECT_KEYWORD}" is allowed only at the root of the schema` });
      walk(v, here, depth + 1);
    }
  };
  walk(schema, '', 0);
  if (props) {
    for (const [name, s] of Object.entries(props)) {
      if (isPlainObject(s) && PERSONAL_KEYWORD in s && typeof s[PERSONAL_KEYWORD] !== 'boolean')
        problems.push({ path: `/properties/${name}/${PERSONAL_KEYWORD}`, message: `"${PERSONAL_KEYWORD}" is true or false` });
    }
  }
  if (SUBJECT_KEYWORD in schema) {
    const subject = schema[SUBJECT_KEYWORD];
    const at = `/${SUBJECT_KEYWORD}`;
    if (typeof subject !== 'string' || subject.length === 0) {
      problems.push({ path: at, message: `"${SUBJECT_KEYWORD}" names a top-level property (a non-empty string)` });
    } else {
      const p = props?.[subject];
      if (!isPlainObject(p)) problems.push({ path: at, message: `"${SUBJECT_KEYWORD}" names "${subject}", which is not in properties` });
      else {
        if (p.type !== 'string')
          problems.push({ path: at, message: `the subject property "${subject}" must declare "type": "string" (an opaque subject id)` });
        if (p[PERSONAL_KEYWORD] === true)
          problems.push({
            path: at,
            message: `the subject property "${subject}" cannot itself be personal: it says whose key seals the values (use an opaque id)`,
          });
      }
    }
  }
  return problems;
}

/** Throws 400 naming every problem with the schema's marks. */
export function checkMarks(schema: unknown): void {
  const problems = markProblems(schema);
  if (problems.length === 0) return;
  const first = problems[0]!;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more, see errors)` : '';
  throw validation(`The personal-data marks are not valid: ${first.path}: ${first.message}${more}.`, problems);
}

/** The subject id of a record's data under `marks`: the subject field's value, else the record itself. */
export function subjectIdOf(marks: PersonalMarks, recordId: string, data: Record<string, unknown> | undefined): string {
  if (marks.subjectField && data) {
    const v = Object.hasOwn(data, marks.subjectField) ? data[marks.subjectField] : undefined;
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return recordId;
}

function pathTail(path: string): string {
  const parts = path.split('/');
  return (parts[parts.length - 1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
}
function depthOf(path: string): number {
  return path.split('/').length - 1;
}
