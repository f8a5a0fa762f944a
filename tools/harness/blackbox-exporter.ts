// A real Prometheus blackbox exporter (the Debian package's binary) for a test: loopback only, the given
// configuration file. A test asks it to probe as Prometheus does, with GET /probe?module=…&target=…, and reads
// probe_success from the answer; its output's tail names why a probe failed.
import { type LocalServer, startLocalServer } from './local-server';

export interface BlackboxExporterOptions {
  /** The exporter's configuration file (blackbox.yaml: `modules:`). */
  configFile: string;
  timeoutMs?: number;
}

export type BlackboxExporter = LocalServer;

/** The binary's Debian name. */
export const BLACKBOX_EXPORTER_BINARY = 'prometheus-blackbox-exporter';

/** Starts the exporter on a spare port and resolves once `/-/healthy` answers 200 (its output in the error if not). */
export function startBlackboxExporter(options: BlackboxExporterOptions): Promise<BlackboxExporter> {
  return startLocalServer({
    binary: BLACKBOX_EXPORTER_BINARY,
    args: (port) => [`--config.file=${options.configFile}`, `--web.listen-address=127.0.0.1:${port}`],
    readyPath: '/-/healthy',
    timeoutMs: options.timeoutMs,
  });
}
