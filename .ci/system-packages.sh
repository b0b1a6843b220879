#!/usr/bin/env bash
# Installs the Debian packages that the browser and store tests need, only when missing:
#   chromium          the browser Playwright drives (/usr/bin/chromium; Playwright's own
#                     browser download does not work on these machines)
#   fonts-liberation  so that screenshots show text (chromium only recommends it)
#   postgresql        the server the store tests run against (.ci/postgres.sh starts it)
#   openjdk-17-jre-headless (21 where the release has no 17)
#                     Java for the Spark tests (pyspark starts Spark's driver in a JVM)
# Idempotent and quiet when everything is already there. Needs root, or sudo without a
# password prompt (CI runs as root with no standard input).
set -euo pipefail

missing=()

if ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi

if ! dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q 'install ok installed'; then
    missing+=(fonts-liberation)
fi

pg_found=
for bindir in /usr/lib/postgresql/*/bin; do
    if [[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" && -x "$bindir/postgres" ]]; then
        pg_found=$bindir
        break
    fi
done
if [[ -z "$pg_found" ]]; then
    missing+=(postgresql)
fi

# (any Java 17 or later will do: pyspark 4 needs 17)
java_version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1 || true)
if [[ -z "$java_version" || "$java_version" -lt 17 ]]; then
    missing+=(openjdk-17-jre-headless)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "system-packages: missing Debian packages: ${missing[*]}" >&2
    echo "system-packages: not root and no sudo: install them as root with" >&2
    echo "    apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: missing ${missing[*]} and this is not a Debian system (no apt-get)." >&2
    echo "system-packages: install them by hand; see docs/development.md." >&2
    exit 1
fi

echo "system-packages: installing ${missing[*]} (apt-get)"
start=$(date +%s)
# -o Acquire::Retries: the registry is reachable but occasionally slow to answer.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o Acquire::Retries=3 update -qq
# (Debian 12 ships Java 17; a later Debian may ship only 21, which pyspark 4 runs on too)
for i in "${!missing[@]}"; do
    if [[ "${missing[$i]}" == openjdk-17-jre-headless ]] \
        && ! apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
        missing[$i]=openjdk-21-jre-headless
    fi
done
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o Acquire::Retries=3 install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
echo "system-packages: installed ${missing[*]} in $(( $(date +%s) - start ))s"
