#!/bin/sh
# Install the Debian packages spanwatch needs; Suricata 7 comes from bookworm-backports.
# Usage (as root): config/setup-apt.sh PACKAGE...      Called by `make deps`.
set -eu

backports_pkgs=""
main_pkgs=""
for pkg in "$@"; do
    case "$pkg" in
        suricata|suricata-update) backports_pkgs="$backports_pkgs $pkg" ;;
        *) main_pkgs="$main_pkgs $pkg" ;;
    esac
done

. /etc/os-release
target=""
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
    target="-t bookworm-backports"
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # Use the mirror the machine already uses for bookworm.
        mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk '/^$/ {u=""} /^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}')
        [ -n "$mirror" ] || mirror=$(awk '/^deb .*bookworm/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
        cat >/etc/apt/sources.list.d/bookworm-backports.sources <<EOS
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
if [ -n "$main_pkgs" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $main_pkgs
fi
if [ -n "$backports_pkgs" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -qq $target $backports_pkgs
fi
suricata -V
