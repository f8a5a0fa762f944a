#!/usr/bin/env bash
# Unpacks Debian testing's ("forky") prometheus, promtool, prometheus-alertmanager (with amtool) and
# prometheus-blackbox-exporter into a cache folder without installing them, so the tests run the Prometheus 3 /
# Alertmanager 0.3x / blackbox exporter 0.28 that production runs.
# `--print-bin` prints the folder to put first on PATH. Versions are pinned: a new Debian upload changes them only
# through a commit here.
set -euo pipefail
PROMETHEUS_DEB_VERSION=3.5.3+ds1-6
ALERTMANAGER_DEB_VERSION=0.33.1-5
# The exporter release the chart of argocd/platform/blackbox-exporter.yaml ships (appVersion v0.28.0).
BLACKBOX_EXPORTER_DEB_VERSION=0.28.0-2
# Every version is in the folder's name: a new pin unpacks into a fresh folder (an older one is left as it was).
root="${OPSFORGE_TOOLS_DIR:-$HOME/.cache/opsforge/debian-forky}/prometheus-$PROMETHEUS_DEB_VERSION-alertmanager-$ALERTMANAGER_DEB_VERSION-blackbox-exporter-$BLACKBOX_EXPORTER_DEB_VERSION"
bin="$root/usr/bin"
if [ "${1:-}" = --print-bin ]; then echo "$bin"; exit 0; fi
# Debian builds Alertmanager without its embedded templates: it reads default.tmpl (the notifiers' default titles and
# texts) from this fixed path and refuses every configuration without it, so the unpacked file goes there.
templates=/usr/share/prometheus/alertmanager
install_templates() {
  mkdir -p "$templates"
  cp "$root$templates/default.tmpl" "$root$templates/email.tmpl" "$templates/"
}
if [ -x "$bin/promtool" ] && [ -x "$bin/prometheus" ] && [ -x "$bin/amtool" ] && [ -x "$bin/prometheus-alertmanager" ] \
  && [ -x "$bin/prometheus-blackbox-exporter" ]; then
  cmp -s "$root$templates/default.tmpl" "$templates/default.tmpl" || install_templates
  exit 0
fi
sources=/etc/apt/sources.list.d/opsforge-forky.sources
if [ ! -f "$sources" ]; then
  cat >"$sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: forky
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # Never let forky upgrade the machine's own packages: only `apt-get download` of the pinned versions reads it.
  cat >/etc/apt/preferences.d/opsforge-forky <<'PREFS'
Package: *
Pin: release n=forky
Pin-Priority: 100
PREFS
fi
apt-get update -qq
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
chmod 777 "$downloads"
(cd "$downloads" && apt-get download -qq \
  "prometheus=$PROMETHEUS_DEB_VERSION" "promtool=$PROMETHEUS_DEB_VERSION" \
  "prometheus-alertmanager=$ALERTMANAGER_DEB_VERSION" \
  "prometheus-blackbox-exporter=$BLACKBOX_EXPORTER_DEB_VERSION")
mkdir -p "$root"
for deb in "$downloads"/*.deb; do dpkg -x "$deb" "$root"; done
install_templates
for tool in prometheus promtool prometheus-alertmanager amtool prometheus-blackbox-exporter; do
  [ -x "$bin/$tool" ] || { echo "observability-tools: $tool missing from the unpacked packages in $root" >&2; exit 1; }
done
