/** Activities of the baseline workflows; `create` tells the harness, which then sends the job's message. */
export function createBenchActivities(onCreate: (id: string) => void) {
  return {
    async step(id: string, what: string): Promise<void> {
      if (what === 'create') onCreate(id);
    },
    async mark(_id: string): Promise<void> {},
  };
}
