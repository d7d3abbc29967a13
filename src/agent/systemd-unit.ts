/**
 * The systemd unit for the agent: restart forever, and confine the daemon to its data dir.
 * The agent only dials out, so it needs no capabilities and no listening sockets.
 */
export interface UnitOptions {
  /** Absolute path of the node binary and the tether entry point. */
  execStart: string
  dataDir: string
  user: string
  description?: string
}

/** ProtectHome=yes hides /home entirely; a data dir there needs read-only plus ReadWritePaths. */
export function renderUnit(options: UnitOptions): string {
  return `[Unit]
Description=${options.description ?? 'Tether device agent (outbound-only remote support connection)'}
Documentation=https://github.com/tether/tether/blob/main/docs/agent.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${options.user}
Environment=TETHER_AGENT_DIR=${options.dataDir}
ExecStart=${options.execStart} agent start --data-dir ${options.dataDir}
Restart=always
RestartSec=5
# Never give up restarting, however often it fails.
StartLimitIntervalSec=0
KillSignal=SIGTERM
TimeoutStopSec=20

# Hardening: the agent needs its data dir and outbound TCP, nothing else.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=${/^\/(home|root)(\/|$)/.test(options.dataDir) ? 'read-only' : 'yes'}
ReadWritePaths=${options.dataDir}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0077

[Install]
WantedBy=multi-user.target
`
}
