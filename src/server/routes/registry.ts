import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {SerialParam} from '../../protocol/api/common.js'
import {
  CreateCustomerRequest,
  CreateDeviceRequest,
  CreateSiteRequest,
  CustomerList,
  CustomerView,
  DeviceList,
  DeviceQuery,
  DeviceView,
  SiteList,
  SiteQuery,
  SiteView,
} from '../../protocol/api/registry.js'
import {principalOf} from '../auth/request-context.js'
import {auditedChange} from '../audit/plugin.js'
import {livePresence, livePresenceOne} from '../cluster/device-online.js'
import {
  createCustomer,
  createDevice,
  createSite,
  customerView,
  deviceView,
  getDevice,
  listCustomers,
  listDevices,
  listSites,
  siteView,
} from '../registry/service.js'

/** Customers, sites and devices, always filtered by the caller's scope. */
export const registryRoutes: FastifyPluginAsync = async (app) => {
  const read = app.requirePermission('devices:read')

  app.get('/customers', {preHandler: read, schema: {response: {200: CustomerList}}}, async (request) => ({
    customers: (await listCustomers(app.db, principalOf(request).scope)).map(customerView),
  }))

  app.post(
    '/customers',
    {preHandler: app.requirePermission('customers:manage'), schema: {body: CreateCustomerRequest, response: {201: CustomerView}}},
    async (request, reply) => {
      const customer = await auditedChange(request, async (trx, record) => {
        const customer = await createCustomer(trx, request.body as z.infer<typeof CreateCustomerRequest>)
        record({action: 'customer.create', outcome: 'success', customerId: customer.id, details: {name: customer.name}})
        return customer
      })
      return reply.code(201).send(customerView(customer))
    },
  )

  app.get('/sites', {preHandler: read, schema: {querystring: SiteQuery, response: {200: SiteList}}}, async (request) => {
    const {customer} = request.query as z.infer<typeof SiteQuery>
    return {sites: (await listSites(app.db, principalOf(request).scope, customer)).map(siteView)}
  })

  app.post('/sites', {preHandler: app.requirePermission('customers:manage'), schema: {body: CreateSiteRequest, response: {201: SiteView}}}, async (request, reply) => {
    const site = await auditedChange(request, async (trx, record) => {
      const site = await createSite(trx, principalOf(request).scope, request.body as z.infer<typeof CreateSiteRequest>)
      record({action: 'site.create', outcome: 'success', customerId: site.customer_id, details: {site: site.id, name: site.name}})
      return site
    })
    return reply.code(201).send(siteView(site))
  })

  app.get('/devices', {preHandler: read, schema: {querystring: DeviceQuery, response: {200: DeviceList}}}, async (request) => {
    const filter = request.query as z.infer<typeof DeviceQuery>
    const devices = await listDevices(app.db, principalOf(request).scope, filter)
    const live = await livePresence(app, devices)
    return {devices: devices.map((d) => deviceView(d, live.get(d.serial) ?? null))}
  })

  app.get('/devices/:serial', {preHandler: read, schema: {params: SerialParam, response: {200: DeviceView}}}, async (request) => {
    const {serial} = request.params as z.infer<typeof SerialParam>
    const device = await getDevice(app.db, principalOf(request).scope, serial)
    return deviceView(device, await livePresenceOne(app, device))
  })

  app.post('/devices', {preHandler: app.requirePermission('devices:manage'), schema: {body: CreateDeviceRequest, response: {201: DeviceView}}}, async (request, reply) => {
    const device = await auditedChange(request, async (trx, record) => {
      const device = await createDevice(trx, principalOf(request).scope, request.body as z.infer<typeof CreateDeviceRequest>)
      record({action: 'device.create', outcome: 'success', deviceSerial: device.serial, customerId: device.customer_id, details: {model: device.model, site: device.site_id}})
      return device
    })
    return reply.code(201).send(deviceView(device))
  })
}
