import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectMetric, makeGaugeProvider, PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { CONFIG, type ServiceIdentity } from './config';

/**
 * Metric names and labels are an interface (docs/architecture.md): alerts, dashboards and the canary analysis
 * query them by name. Never name a label `job`, `instance`, `namespace`, `pod` or `service`.
 */
const APP_INFO = 'app_info';

export const appInfoGauge = makeGaugeProvider({
  name: APP_INFO,
  help: 'Always 1; the version label says which build is running.',
  labelNames: ['version'],
});

@Injectable()
export class AppInfoReporter implements OnModuleInit {
  constructor(
    @InjectMetric(APP_INFO) private readonly appInfo: Gauge<'version'>,
    @Inject(CONFIG) private readonly identity: ServiceIdentity,
  ) {}

  onModuleInit(): void {
    this.appInfo.set({ version: this.identity.version }, 1);
  }
}

/** `/metrics` in Prometheus text format, with prom-client's default process and Node.js metrics. */
export function prometheusModule() {
  return PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true }, global: true });
}
