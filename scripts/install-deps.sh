#!/usr/bin/env bash
# Installs exactly what the project needs to build, test and run on Debian 12: the Debian
# packages below, and the npm packages of package.json / package-lock.json (dashboard bundle
# and browser tests). Idempotent; takes about a second when everything is already present.
#
#   scripts/install-deps.sh          # build + test + run dependencies
#   APMCOV_SKIP_NPM=1 scripts/...    # Debian packages only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang-format clang clang-tidy
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  librdkafka-dev libpqxx-dev libpq-dev libpistache-dev prometheus-cpp-dev
  libmicrohttpd-dev nlohmann-json3-dev libsimdjson-dev libcurl4-openssl-dev zlib1g-dev
  libmsgpack-cxx-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # servers and tools used by the local stack and the tests
  postgresql curl python3 python3-yaml python3-jsonschema python3-grpcio
  prometheus shellcheck yamllint docker-compose kcat
  # the Helm chart test renders with Helm's engine parts: Go text/template + Sprig
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  # benchmarks (scripts/bench.sh): load generator and the static-file reference
  wrk nginx
  # browser tests and the dashboard build
  chromium nodejs
)
# Debian's nodejs ships npm separately; NodeSource's nodejs includes it.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
while read -r name status; do
  [[ $status == "install ok installed" ]] || missing+=("$name")
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
# dpkg-query prints nothing for packages it has never heard of.
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    [[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists when they are missing or older than a day.
  if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -n 1) ]]; then
    $sudo apt-get update -qq
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci is exact but slow: skip it for a folder whose node_modules matches its lock file.
npm_install() {
  local dir=$1 stamp want
  [[ -f $dir/package-lock.json ]] || return 0
  stamp=$dir/node_modules/.apmcov-lock.sha256
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "install-deps: installing npm packages of ${dir#"$root"}/"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
}

if [[ -z ${APMCOV_SKIP_NPM:-} ]]; then
  npm_install "$root"            # dashboard bundle and browser tests
  npm_install "$root/tests/helm" # Kubernetes schemas for the chart test
fi
