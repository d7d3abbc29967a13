import type {FastifyInstance} from 'fastify'
import {type ZodType, z} from 'zod'
import {describeBadInput, findBadInput} from '../../shared/input-check.js'

/**
 * Route schemas are the zod objects of src/protocol/api: requests are parsed by zod (strict
 * objects reject unknown fields, and the error names the field), responses are parsed before
 * serialisation so that nothing outside the declared shape (a password hash, a secret) can leak.
 * Before zod, every string and key is checked (findBadInput): text the database would store
 * differently (a lone surrogate, NUL) or absurd nesting is refused naming the field, so nothing
 * hashed into the audit trail can differ from what is stored.
 */
export class RequestValidationError extends Error {
  readonly statusCode = 400
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message)
  }
}

export function useZodCompilers(app: FastifyInstance): void {
  app.setValidatorCompiler<ZodType>(({schema, httpPart}) => (data: unknown) => {
    const bad = findBadInput(data)
    if (bad) {
      const {field, message} = describeBadInput(bad, httpPart ?? 'body')
      return {error: new RequestValidationError(message, field)}
    }
    const result = schema.safeParse(data)
    if (result.success) return {value: result.data}
    const issue = result.error.issues[0]
    const field = [httpPart ?? 'body', ...issue.path.map(String)].join('.')
    return {error: new RequestValidationError(`${field}: ${describeIssue(issue)}`, field)}
  })
  app.setSerializerCompiler<ZodType>(({schema}) => (data: unknown) => JSON.stringify(schema.parse(data)))
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`
  return issue.message
}
