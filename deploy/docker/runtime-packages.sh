#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given binaries load, one per
# line, sorted. The image build runs it in the builder stage so the runtime stage installs
# exactly the runtime libraries (libgrpc++1.51, librdkafka1, libpqxx-6.4, ...) and no -dev
# package. Fails, naming the library, when a library belongs to no installed package.
#
#   deploy/docker/runtime-packages.sh build/services/*/apmcov-* > runtime-packages.txt
set -euo pipefail

if (($# == 0)); then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi

# dpkg records a file under the path its package shipped it at; with merged /usr, ldd may
# report /lib/... for a file dpkg knows as /usr/lib/... (or the reverse).
package_of() {
  local lib=$1 candidate real
  real=$(readlink -f "$lib")
  for candidate in "$lib" "/usr$lib" "${lib#/usr}" "$real" "/usr$real" "${real#/usr}"; do
    if out=$(dpkg-query -S "$candidate" 2>/dev/null); then
      # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" -> "libfoo1"
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

declare -A packages=()
status=0
for binary in "$@"; do
  if [[ ! -x $binary ]]; then
    echo "runtime-packages: $binary is not an executable" >&2
    exit 1
  fi
  if ldd "$binary" | grep -q 'not found'; then
    echo "runtime-packages: $binary has unresolved libraries:" >&2
    ldd "$binary" | grep 'not found' >&2
    exit 1
  fi
  while read -r lib; do
    [[ -n $lib ]] || continue
    if pkg=$(package_of "$lib"); then
      packages[$pkg]=1
    else
      echo "runtime-packages: no installed package provides $lib (needed by $binary)" >&2
      status=1
    fi
  done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
done
((status == 0)) || exit "$status"
printf '%s\n' "${!packages[@]}" | sort
