#!/usr/bin/env bash
# Benchmark: `tether check ports` against `nmap -sT -Pn` on the same 45 host:port pairs
# (15 open, 15 closed, 15 filtered) on loopback addresses inside a network namespace this
# script creates and deletes. Needs root, nmap, iproute2, iptables, and a built tree (npm run build).
#
#   sudo bash bench/check-ports.sh [--runs N] [--layout host|spread]
#
# layout host   (default) 15 addresses, each with one open, one closed and one filtered port,
#               like a vendor host whose firewall passes 443 but drops 17002.
# layout spread 45 addresses, each with exactly one port: filtered ports are on addresses
#               that never answer, so only the run-wide RTT rule applies.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=1
LAYOUT=host
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --layout) LAYOUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--layout host|spread]" >&2; exit 2 ;;
  esac
done
[[ "$LAYOUT" == host || "$LAYOUT" == spread ]] || { echo "--layout must be host or spread" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "needs root (network namespace, iptables)" >&2; exit 2; }
for tool in nmap ip iptables node; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done
[[ -f dist/commands/check/ports.js ]] || { echo "run npm run build first" >&2; exit 2; }

NS="tether-bench-$$"
WORK="$(mktemp -d)"
LISTENER_PID=""
cleanup() {
  [[ -n "$LISTENER_PID" ]] && kill "$LISTENER_PID" 2>/dev/null || true
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

# The 45 pairs: "address port state".
PAIRS="$WORK/pairs"
: >"$PAIRS"
if [[ "$LAYOUT" == host ]]; then
  for i in $(seq 1 15); do
    printf '127.0.3.%d 9001 open\n127.0.3.%d 9002 closed\n127.0.3.%d 9003 filtered\n' "$i" "$i" "$i" >>"$PAIRS"
  done
else
  for i in $(seq 1 15); do
    printf '127.0.4.%d 9001 open\n127.0.5.%d 9001 closed\n127.0.6.%d 9001 filtered\n' "$i" "$i" "$i" >>"$PAIRS"
  done
fi

while read -r addr port state; do
  [[ "$state" == filtered ]] && in_ns iptables -A INPUT -p tcp -d "$addr" --dport "$port" --syn -j DROP
done <"$PAIRS"

OPEN_SPECS=$(awk '$3 == "open" {printf "%s:%s ", $1, $2}' "$PAIRS")
# Listeners end by themselves after 10 minutes in case this script is killed with SIGKILL.
in_ns node -e '
const net = require("node:net");
const specs = process.argv.slice(1);
let pending = specs.length;
for (const s of specs) {
  const [host, port] = s.split(":");
  net.createServer((c) => { c.on("error", () => c.destroy()); c.end(); }).listen(Number(port), host, () => { if (--pending === 0) console.log("READY"); });
}
setTimeout(() => process.exit(0), 600000);
' $OPEN_SPECS >"$WORK/listener.log" 2>&1 &
LISTENER_PID=$!
for _ in $(seq 1 100); do grep -qs READY "$WORK/listener.log" && break; sleep 0.05; done
grep -q READY "$WORK/listener.log" || { echo "listeners did not start: $(cat "$WORK/listener.log")" >&2; exit 1; }

# The profile: one row per address, X under each of its ports.
PORTS=$(awk '{print $2}' "$PAIRS" | sort -un | paste -sd, -)
{
  echo "IP,Hostname,$PORTS"
  awk -v ports="$PORTS" 'BEGIN {n = split(ports, P, ",")}
    {want[$1 "," $2] = 1; if (!($1 in seen)) {seen[$1] = 1; order[++k] = $1}}
    END {for (i = 1; i <= k; i++) {row = order[i] ","; for (j = 1; j <= n; j++) row = row "," (want[order[i] "," P[j]] ? "X" : ""); print row}}' "$PAIRS"
} >"$WORK/bench.csv"
ADDRS=$(awk '{print $1}' "$PAIRS" | sort -u | paste -sd' ' -)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

for run in $(seq 1 "$RUNS"); do
  t0=$(now_ms)
  TETHER_PROBE_ALLOW=127.0.0.0/8 NO_COLOR=1 in_ns node bin/run.js check ports --file "$WORK/bench.csv" --timeout 5s --json >"$WORK/tether.json" || true
  t1=$(now_ms)
  # shellcheck disable=SC2086
  in_ns nmap -sT -Pn -n -p "$PORTS" -oG "$WORK/nmap.gnmap" $ADDRS >/dev/null
  t2=$(now_ms)

  node -e '
const fs = require("node:fs");
const [pairsFile, tetherFile, nmapFile, tetherMs, nmapMs, run, layout] = process.argv.slice(1);
const expected = new Map(fs.readFileSync(pairsFile, "utf8").trim().split("\n").map((l) => { const [a, p, s] = l.split(" "); return [`${a}:${p}`, s]; }));
const tether = new Map(JSON.parse(fs.readFileSync(tetherFile, "utf8")).probes.map((p) => [`${p.address}:${p.port}`, p.tcp.status]));
const nmap = new Map();
for (const line of fs.readFileSync(nmapFile, "utf8").split("\n")) {
  const m = /^Host: (\S+) .*Ports: (.*?)(\t|$)/.exec(line);
  if (!m) continue;
  for (const entry of m[2].split(", ")) { const [port, state] = entry.split("/"); nmap.set(`${m[1]}:${port}`, state); }
}
// Ports nmap lists only as "Ignored State" are missing from its -oG lines.
const ignored = /Ignored State: (\w+)/.exec(fs.readFileSync(nmapFile, "utf8"));
let agree = 0, right = 0; const diffs = [];
for (const [key, want] of expected) {
  const t = tether.get(key) ?? "missing";
  const n = nmap.get(key) ?? (ignored ? ignored[1] : "missing");
  if (t === n) agree++; else diffs.push(`${key} tether=${t} nmap=${n}`);
  if (t === want) right++;
}
const tm = Number(tetherMs), nm = Number(nmapMs);
console.log(`run ${run} (layout ${layout}, ${expected.size} pairs: 15 open, 15 closed, 15 filtered)`);
console.log(`  tether check ports: ${(tm / 1000).toFixed(3)} s wall (process start to exit)`);
console.log(`  nmap -sT -Pn:       ${(nm / 1000).toFixed(3)} s wall`);
console.log(`  ratio tether/nmap:  ${(tm / nm).toFixed(2)}`);
console.log(`  verdicts agree:     ${agree}/${expected.size}${diffs.length ? " — " + diffs.join("; ") : ""}`);
console.log(`  tether vs. truth:   ${right}/${expected.size} as set up`);
' "$PAIRS" "$WORK/tether.json" "$WORK/nmap.gnmap" $((t1 - t0)) $((t2 - t1)) "$run" "$LAYOUT"
done
