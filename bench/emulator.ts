import { readRegistrationEnv } from '../activities/cloud-init.js';
import { LocalProvider } from '../providers/local/local-provider.js';
import { LABEL_JOB, LABEL_MANAGED, type Plan, type Provider, type Region, type Vm, type VmSpec } from '../providers/types.js';
import { randomId } from '../security/tokens.js';

export interface CreatedVm {
  jobId: string;
  token: string;
  at: number;
}

/**
 * A cloud whose VMs are records: create answers at once and costs nothing to hold, so thousands
 * of jobs measure Berth and Temporal, not the machine. It stands in for `local` (same catalogue).
 */
export class EmulatorProvider implements Provider {
  readonly name = 'local' as const;
  private readonly vms = new Map<string, Vm>();
  private readonly catalogue: LocalProvider;
  /** Calls per method, as a cloud's API would count them (catalogue reads past Berth's cache included). */
  readonly calls = new Map<string, number>();

  constructor(
    dataDir: string,
    /** Called synchronously inside create, with the token read back from the user-data. */
    private readonly onCreate: (vm: CreatedVm) => void,
  ) {
    this.catalogue = new LocalProvider({ dataDir });
  }

  private count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  async verify(): Promise<void> {
    this.count('verify');
  }

  regions(): Promise<Region[]> {
    this.count('regions');
    return this.catalogue.regions();
  }

  plans(region: string): Promise<Plan[]> {
    this.count('plans');
    return this.catalogue.plans(region);
  }

  async listByJob(jobId: string): Promise<Vm[]> {
    this.count('listByJob');
    return [...this.vms.values()].filter((vm) => vm.labels[LABEL_JOB] === jobId);
  }

  async findByName(name: string): Promise<Vm | undefined> {
    this.count('findByName');
    return [...this.vms.values()].find((vm) => vm.name === name);
  }

  async listManaged(): Promise<Vm[]> {
    this.count('listManaged');
    return [...this.vms.values()].filter((vm) => vm.labels[LABEL_MANAGED] === 'true');
  }

  async create(spec: VmSpec): Promise<Vm> {
    this.count('create');
    const vm: Vm = { id: `emu-${randomId(10)}`, name: spec.name, status: 'running', labels: spec.labels };
    this.vms.set(vm.id, vm);
    // The token is read back from the multi-part user-data. These VMs run no node agent: they never heartbeat.
    this.onCreate({ jobId: spec.labels[LABEL_JOB]!, token: readRegistrationEnv(spec.userData).token, at: performance.now() });
    return vm;
  }

  /** Everything is set at create. */
  async adopt(vm: Vm): Promise<Vm> {
    this.count('adopt');
    return vm;
  }

  async delete(vmId: string): Promise<'deleted' | 'not_found'> {
    this.count('delete');
    return this.vms.delete(vmId) ? 'deleted' : 'not_found';
  }
}
