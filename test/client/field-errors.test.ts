import {strict as assert} from 'node:assert'
import {flagForField, messageForField} from '../../src/client/field-errors.js'
import {errorFromResponse} from '../../src/client/http-errors.js'
import {ExitCode} from '../../src/shared/errors.js'

describe('API fields become flags in CLI errors', () => {
  it('names the flag (or argument) for an API field', () => {
    assert.equal(flagForField('body.site'), '--site')
    assert.equal(flagForField('body.entries.0.customer'), '--customer')
    assert.equal(flagForField('query.deviceSerial'), '--device-serial')
    assert.equal(flagForField('params.serial'), 'SERIAL')
  })

  it('says the field once, as the flag, with the command that fixes it', () => {
    const error = errorFromResponse(400, {error: {code: 'USAGE', field: 'body.site', message: 'body.site: no site "icu" of customer "st-mary"'}})
    assert.equal(error.message, '--site: customer st-mary has no site "icu"; add it with tether sites add icu --customer st-mary')
    assert.equal(error.exitCode, ExitCode.USAGE)
    assert.equal(error.details?.field, 'body.site')
  })

  it('points an unknown customer at `tether customers add`', () => {
    assert.equal(
      messageForField('body.customer', 'body.customer: no customer "acme"'),
      '--customer: no customer "acme"; add it with tether customers add acme --name "NAME" (or see tether customers list)',
    )
  })

  it('keeps other messages as they are, without the API field', () => {
    assert.equal(messageForField('body.name', 'body.name: too long'), '--name: too long')
    assert.equal(messageForField('body.name', 'too long'), '--name: too long')
  })
})

describe('an expired or revoked API token', () => {
  it('says to create a new token, not to log in', () => {
    const error = errorFromResponse(401, {error: {code: 'API_TOKEN_EXPIRED', message: 'API token expired at 2026-01-01T00:00:00.000Z'}})
    assert.equal(error.message, 'API token expired at 2026-01-01T00:00:00.000Z: create a new one and set TETHER_TOKEN to it')
    assert.equal(error.code, 'API_TOKEN_EXPIRED')
    assert.equal(error.exitCode, ExitCode.AUTH)
    assert.match(error.suggestions.join('\n'), /^tether tokens create --name NAME/)
    assert.doesNotMatch(`${error.message} ${error.suggestions.join(' ')}`, /Run `tether login`/)
  })

  it('gives a 410 with a known code its table exit code', () => {
    const error = errorFromResponse(410, {error: {code: 'TOKEN_EXPIRED', message: 'the enrollment token has expired'}})
    assert.equal(error.exitCode, ExitCode.AUTH)
    assert.equal(error.message, 'the enrollment token has expired')
  })
})
