// A store URL as it may be printed: without its password. Apart from open-store.ts, which loads the
// PostgreSQL store lazily, so that the PostgreSQL store can use it without importing its loader.
/** A URL without its password, to print. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}
