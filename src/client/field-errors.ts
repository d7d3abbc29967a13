/**
 * The server names a bad request field the API's way ("body.site: no site …"); the user typed a
 * flag. This turns the field into the flag, once, and for the refusals that have an obvious
 * next step, says which command to run (a registry: one entry per known refusal).
 */

/** body.site → --site, body.entries.0.customer → --customer, query.deviceSerial → --device-serial, params.serial → SERIAL. */
export function flagForField(field: string): string {
  const [part, ...path] = field.split('.')
  const name = [...path].reverse().find((segment) => !/^\d+$/.test(segment)) ?? part
  if (part === 'params') return name.toUpperCase()
  return `--${name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`
}

interface NextStep {
  /** The last path segment of the field it applies to. */
  field: string
  /** The server's message (without the field prefix). */
  message: RegExp
  rewrite(match: RegExpMatchArray): string
}

const NEXT_STEPS: NextStep[] = [
  {
    field: 'site',
    message: /^no site "([^"]+)" of customer "([^"]+)"$/,
    rewrite: ([, site, customer]) => `customer ${customer} has no site "${site}"; add it with tether sites add ${site} --customer ${customer}`,
  },
  {
    field: 'customer',
    message: /^no customer "([^"]+)"$/,
    rewrite: ([, customer]) => `no customer "${customer}"; add it with tether customers add ${customer} --name "NAME" (or see tether customers list)`,
  },
]

/** "--site: customer st-mary has no site "icu"; add it with tether sites add icu --customer st-mary". */
export function messageForField(field: string, serverMessage: string): string {
  // The server's message usually starts with the field already: say it once, as the flag.
  const text = serverMessage.startsWith(`${field}: `) ? serverMessage.slice(field.length + 2) : serverMessage
  const last = field.split('.').findLast((segment) => !/^\d+$/.test(segment))
  for (const step of NEXT_STEPS) {
    if (step.field !== last) continue
    const match = step.message.exec(text)
    if (match) return `${flagForField(field)}: ${step.rewrite(match)}`
  }
  return `${flagForField(field)}: ${text}`
}
