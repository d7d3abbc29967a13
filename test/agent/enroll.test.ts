import {strict as assert} from 'node:assert'
import {createPrivateKey} from 'node:crypto'
import {createCsr, serialToEnroll} from '../../src/agent/enroll.js'
import {encodeEnrollToken} from '../../src/protocol/agent/enroll.js'
import {x509} from '../../src/shared/x509.js'
import {UsageError} from '../../src/shared/errors.js'

describe('agent enrollment CSR', () => {
  it('is a valid PKCS#10 for CN=serial with a P-256 key made here', async () => {
    const {csrPem, keyPem} = await createCsr('SN-1001')
    const csr = new x509.Pkcs10CertificateRequest(csrPem)
    assert.equal(csr.subject, 'CN=SN-1001')
    assert.equal(await csr.verify(), true)
    const key = createPrivateKey(keyPem)
    assert.equal(key.asymmetricKeyType, 'ec')
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  })

  it('refuses a serial that cannot be a certificate CN', async () => {
    await assert.rejects(createCsr('bad serial/../x'), UsageError)
    await assert.rejects(createCsr(''), UsageError)
  })
})

describe('serialToEnroll', () => {
  it('takes the serial from the token, and refuses a --serial that differs', () => {
    const token = encodeEnrollToken('SN-7', 's'.repeat(43))
    assert.equal(serialToEnroll(token, undefined), 'SN-7')
    assert.equal(serialToEnroll(token, 'SN-7'), 'SN-7')
    assert.throws(() => serialToEnroll(token, 'SN-8'), /--serial: SN-8 does not match .*SN-7/)
    assert.throws(() => serialToEnroll('opaque-token-without-serial', undefined), /--token: not a Tether enrollment token/)
    assert.equal(serialToEnroll('opaque-token-without-serial', 'SN-9'), 'SN-9')
  })
})
