/**
 * Resolution of local `$ref`s (`#/components/...`) in an OpenAPI document, shared by the code
 * generator and the server's request validator.
 */

type Node = Record<string, unknown>;

/** Follows `$ref`s inside `doc` until a non-reference object; throws on a dangling one. */
export function resolveRef<T>(doc: unknown, value: unknown): T {
  let current = value as Node | undefined;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    const ref = current.$ref as string;
    // Remote references are not used by vmkeep's specs; a cycle of references is a spec bug.
    if (!ref.startsWith('#/') || hops > 32) throw new Error(`unsupported $ref ${ref}`);
    current = ref
      .slice(2)
      .split('/')
      .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce<unknown>((node, key) => (node as Node | undefined)?.[key], doc) as Node | undefined;
    if (current === undefined) throw new Error(`unresolved $ref ${ref}`);
  }
  return current as T;
}
