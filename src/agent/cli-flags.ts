import {Flags} from '@oclif/core'

/** Flags shared by the `tether agent ...` commands. */
export const agentDataDirFlag = Flags.string({
  description: 'Agent data dir. Default: $TETHER_AGENT_DIR, else ~/.local/share/tether/agent (systemd: /var/lib/tether-agent).',
  helpValue: 'DIR',
})
