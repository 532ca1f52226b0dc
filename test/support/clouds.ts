// The cloud providers as the end-to-end tests see them: an emulator per provider with the same
// handle, and a region and plan its catalogue offers.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { BootMode, NodeLoad } from '../emulators/boot.js';
import { startDigitalOceanEmulator } from '../emulators/digitalocean.js';
import { startHetznerEmulator } from '../emulators/hetzner.js';
import { LABEL_JOB, LABEL_POOL } from '../../providers/types.js';

export interface EmulatedVm {
  id: string;
  name: string;
  jobId: string | undefined;
  /** The pool the VM was made for, from its label (Hetzner) or tag (DigitalOcean). */
  pool: string | undefined;
}

/** The node agent inside an emulated VM, and the VM as the cloud console would see it. */
export interface EmulatedAgents {
  /** The load the VM's agent reports from its next heartbeat on. */
  setLoad(vmId: string, load: NodeLoad): void;
  /** The agent stops heartbeating; the VM keeps running. */
  stopAgent(vmId: string): void;
  /** The VM is deleted behind Berth's back. */
  deleteOutOfBand(vmId: string): void;
}

export interface CloudEmulator {
  url: string;
  token: string;
  vms(): EmulatedVm[];
  /** Requests that created a VM. */
  creates(): number;
  requestCount(): number;
  agents: EmulatedAgents;
  /** A firewall VMs can be put in, where the provider attaches firewalls after the create. */
  firewall?: { id: string; members(): string[] };
  faults: {
    rateLimitNext(n: number, retryAfterSec?: number): void;
    hangCreateAfterCommit(ms: number): void;
    soldOut(plan: string, region: string): void;
  };
  close(): Promise<void>;
}

export interface Cloud {
  name: 'hetzner' | 'digitalocean';
  region: string;
  plan: string;
  /** A plan the catalogue does not offer in `region`. */
  planNotInRegion: string;
  start(options: { bootMode?: BootMode; bootDelayMs?: number }): Promise<CloudEmulator>;
}

export const CLOUDS: Cloud[] = [
  {
    name: 'hetzner',
    region: 'ash',
    plan: 'cpx11',
    planNotInRegion: 'cx22',
    async start(options) {
      const emu = await startHetznerEmulator(options);
      return {
        url: emu.url,
        token: emu.token,
        vms: () => emu.servers().map((s) => ({ id: String(s.id), name: s.name, jobId: s.labels[LABEL_JOB], pool: s.labels[LABEL_POOL] })),
        creates: () => emu.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/servers')).length,
        requestCount: () => emu.requests.length,
        agents: { setLoad: emu.setLoad, stopAgent: emu.stopAgent, deleteOutOfBand: emu.deleteOutOfBand },
        faults: emu.faults,
        close: () => emu.close(),
      };
    },
  },
  {
    name: 'digitalocean',
    region: 'fra1',
    plan: 's-1vcpu-1gb',
    planNotInRegion: 's-2vcpu-4gb',
    async start(options) {
      const emu = await startDigitalOceanEmulator(options);
      const jobOf = (tags: string[]) => tags.find((t) => t.startsWith('berth-job:'))?.slice('berth-job:'.length);
      // A label that is not Berth's own becomes the lossy tag `<key>:<value>` (see tags.ts).
      const poolOf = (tags: string[]) => tags.find((t) => t.startsWith('berth_dev_pool:'))?.slice('berth_dev_pool:'.length);
      return {
        url: emu.url,
        token: emu.token,
        vms: () => emu.droplets().map((d) => ({ id: String(d.id), name: d.name, jobId: jobOf(d.tags), pool: poolOf(d.tags) })),
        firewall: { id: emu.firewallId, members: () => emu.firewallDropletIds().map(String) },
        creates: () => emu.requests.filter((r) => r.method === 'POST' && r.path === '/v2/droplets').length,
        requestCount: () => emu.requests.length,
        agents: { setLoad: emu.setLoad, stopAgent: emu.stopAgent, deleteOutOfBand: emu.deleteOutOfBand },
        faults: emu.faults,
        close: () => emu.close(),
      };
    },
  },
];

/** A JSON logger whose lines are kept, to search them for secrets. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}
