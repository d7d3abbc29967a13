/** RFC 4180: quote a field holding a comma, quote, CR or LF; double inner quotes. null is empty. */
export function csvField(value: string | number | null): string {
  if (value === null) return ''
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}
