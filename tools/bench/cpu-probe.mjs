// For the benchmark's baselines (forked with an IPC channel): answer 'cpu' with this process's own CPU time,
// user + system in microseconds, as process.cpuUsage() counts it. The services report the same figure as
// process_cpu_user_seconds_total and process_cpu_system_seconds_total on /metrics (prom-client reads
// process.cpuUsage() at each scrape), so both sides are measured by the process itself.
export function answerCpuQueries() {
  process.on('message', (message) => {
    if (message !== 'cpu') return;
    const { user, system } = process.cpuUsage();
    process.send?.({ cpuMicros: user + system, rssBytes: process.memoryUsage.rss() });
  });
}
