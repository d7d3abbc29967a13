/**
 * agent.json `updates.window`: when an update may be installed ("Sat 02:00-06:00 Europe/Berlin").
 * Days are `Mon`..`Sun`, comma lists and ranges (`Mon-Fri`, `Sat,Sun`, `Fri-Mon`) or `daily`;
 * times are the zone's wall clock; the zone is an IANA name (default UTC). A window whose end is
 * before its start crosses midnight and belongs to the day it starts on ("Fri 22:00-04:00" is
 * Friday night). Zone math uses Intl alone, so daylight saving time is the zone's own: the window
 * is a span of wall-clock time, and when its start does not exist that night (spring forward) it
 * opens at the first wall-clock minute inside it that does.
 */
export interface InstallWindow {
  /** 0 = Sunday … 6 = Saturday (as Date#getUTCDay). */
  days: ReadonlySet<number>
  startMinute: number
  endMinute: number
  zone: string
  /** The text as configured, for messages. */
  text: string
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']

export class WindowSyntaxError extends Error {}

export function parseWindow(text: string): InstallWindow {
  const parts = text.trim().split(/\s+/)
  if (parts.length < 2 || parts.length > 3) throw new WindowSyntaxError(`updates.window: "${text}" is not "DAYS HH:MM-HH:MM [ZONE]" (e.g. "Sat 02:00-06:00 Europe/Berlin")`)
  const [dayText, timeText, zone = 'UTC'] = parts
  const times = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(timeText)
  if (!times) throw new WindowSyntaxError(`updates.window: "${timeText}" is not a time range HH:MM-HH:MM`)
  const [startMinute, endMinute] = [minutes(times[1], times[2], text), minutes(times[3], times[4], text)]
  if (startMinute === endMinute) throw new WindowSyntaxError(`updates.window: "${timeText}" is empty (start equals end)`)
  try {
    new Intl.DateTimeFormat('en-US', {timeZone: zone})
  } catch {
    throw new WindowSyntaxError(`updates.window: "${zone}" is not a time zone (use an IANA name such as Europe/Berlin, or UTC)`)
  }
  return {days: parseDays(dayText, text), startMinute, endMinute, zone, text}
}

function minutes(h: string, m: string, text: string): number {
  const [hour, minute] = [Number(h), Number(m)]
  // 24:00 is allowed as an end ("22:00-24:00").
  if (hour > 24 || minute > 59 || (hour === 24 && minute !== 0)) throw new WindowSyntaxError(`updates.window: "${text}" has a time that is not HH:MM`)
  return hour * 60 + minute
}

const FULL_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']

function dayIndex(raw: string): number {
  const i = DAY_NAMES.indexOf(raw)
  return i >= 0 ? i : FULL_NAMES.indexOf(raw)
}

function parseDays(text: string, whole: string): Set<number> {
  if (text.toLowerCase() === 'daily') return new Set([0, 1, 2, 3, 4, 5, 6])
  const days = new Set<number>()
  for (const item of text.toLowerCase().split(',')) {
    const ends = item.split('-').map(dayIndex)
    if (ends.length > 2 || ends.some((d) => d < 0)) {
      throw new WindowSyntaxError(`updates.window: "${item}" in "${whole}" is not a day (Mon..Sun, a list "Sat,Sun", a range "Mon-Fri", or "daily")`)
    }
    const [from, to = from] = ends
    // A range may wrap the week ("Fri-Mon").
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d)
      if (d === to) break
    }
  }
  return days
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** The zone's wall clock at an instant: weekday (0 = Sunday) and minute of the day. */
export function wallClock(ms: number, zone: string): {day: number; minute: number} {
  let f = formatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23'})
    formatters.set(zone, f)
  }
  const parts = Object.fromEntries(f.formatToParts(ms).map((p) => [p.type, p.value]))
  return {day: DAY_NAMES.indexOf(parts.weekday.toLowerCase().slice(0, 3)), minute: Number(parts.hour) * 60 + Number(parts.minute)}
}

export function isInWindow(window: InstallWindow, ms: number): boolean {
  const {day, minute} = wallClock(ms, window.zone)
  if (window.startMinute < window.endMinute) return window.days.has(day) && minute >= window.startMinute && minute < window.endMinute
  // Crosses midnight: the evening of a listed day, or the early hours after one.
  return (window.days.has(day) && minute >= window.startMinute) || (window.days.has((day + 6) % 7) && minute < window.endMinute)
}

const MINUTE = 60_000

/**
 * When the window next opens (ms since the epoch): `now` itself when inside it. Walks whole
 * minutes of real time, at most 8 days ahead (every window opens within a week, unless DST
 * swallowed its only start; then the week after), so zone offsets are never computed by hand.
 */
export function nextWindowOpen(window: InstallWindow, now: number): number {
  if (isInWindow(window, now)) return now
  const first = Math.ceil(now / MINUTE) * MINUTE
  for (let t = first; t < now + 15 * 24 * 60 * MINUTE; t += MINUTE) if (isInWindow(window, t)) return t
  throw new WindowSyntaxError(`updates.window: "${window.text}" never opens`)
}
