/** Activities of the minimal workflow; `create` tells the harness, which then sends the signal. */
export function createBenchActivities(onCreate: (id: string) => void) {
  return {
    async step(id: string, what: string): Promise<void> {
      if (what === 'create') onCreate(id);
    },
    async mark(_id: string): Promise<void> {},
  };
}
