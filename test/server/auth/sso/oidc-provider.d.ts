// oidc-provider 8 ships no types; the test IdP uses a handful of its calls, untyped on purpose.
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- no upstream types for v8
  const Provider: any
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- no upstream types for v8
  type Provider = any
  export default Provider
}
