#!/usr/bin/env bash
# Build the images that the sample apps use, without any registry.
#
#   busybox:latest  docker import of a tiny root made from Debian's busybox-static
#   python:3        docker import of a `debootstrap --variant=minbase --include=python3`
#                   bookworm root (apt caches, docs, man pages and locales stripped)
#
# Each image is skipped when the daemon already has it. The debootstrap package
# set and the finished python root are cached under $PACER_CACHE_DIR
# (default /var/cache/pacer), so a rebuild after `docker rmi` downloads nothing.
#
# Usage: sample_apps/build-images.sh [--docker-host URL] [--force] [IMAGE...]
#   --docker-host URL  daemon to build into (default: $DOCKER_HOST, else the local socket)
#   --force            rebuild even if the image exists (caches are still used)
#   IMAGE              busybox:latest and/or python:3 (default: both)
#
# Environment: PACER_DEBIAN_MIRROR (default: the bookworm mirror from
# /etc/apt/sources.list*), PACER_CACHE_DIR (default /var/cache/pacer).
# Needs root (debootstrap), the docker CLI, busybox-static and debootstrap.
set -Eeuo pipefail

PROG=$(basename "$0")
SUITE=bookworm
RECIPE=1   # bump when the root filesystem recipe changes: invalidates cached roots
CACHE_DIR=${PACER_CACHE_DIR:-/var/cache/pacer}
FORCE=0
IMAGES=()

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --docker-host) [ $# -ge 2 ] || die "--docker-host needs a URL"; export DOCKER_HOST="$2"; shift 2 ;;
        --docker-host=*) export DOCKER_HOST="${1#*=}"; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,/^set -Eeuo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        busybox:latest|python:3) IMAGES+=("$1"); shift ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done
[ ${#IMAGES[@]} -gt 0 ] || IMAGES=(busybox:latest python:3)

WORK=""
cleanup() {
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # debootstrap may leave /proc or /sys mounted inside the root on failure
        for m in $(awk -v w="$WORK" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
            umount -l "$m" 2>/dev/null || true
        done
        rm -rf --one-file-system "$WORK"
    fi
}
trap cleanup EXIT
trap 'printf "%s: error: failed at line %s: %s\n" "$PROG" "$LINENO" "$BASH_COMMAND" >&2' ERR

need() {  # need BINARY DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: apt-get install -y $2"
}

need docker docker.io
TARGET=${DOCKER_HOST:-unix:///var/run/docker.sock}
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "no Docker daemon answers at $TARGET (start one: python3 -m tests.support.dockerd ensure)"
say "daemon $TARGET (server $(docker version --format '{{.Server.Version}}'))"

mkdir -p "$CACHE_DIR"
# One build at a time per cache (CI and a test fixture may race).
exec 9>"$CACHE_DIR/build.lock"
flock 9

WORK=$(mktemp -d /tmp/pacer-images.XXXXXX)

has_image() { docker image inspect "$1" >/dev/null 2>&1; }

debian_mirror() {
    if [ -n "${PACER_DEBIAN_MIRROR:-}" ]; then echo "$PACER_DEBIAN_MIRROR"; return; fi
    local f uri
    # one-line format: deb [opts] URI SUITE COMPONENTS
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk -v s="$SUITE" '$1 == "deb" {
                  i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                  if ($(i+1) == s) { print $i; exit } }' "$f")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    # deb822 format: stanzas with Types/URIs/Suites
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk -v s="$SUITE" '
              function flush() { if (deb && uris != "" && suite_ok && !enabled_no) { split(uris, u, " "); print u[1]; found = 1; exit } }
              /^[[:space:]]*$/ { flush(); deb = 0; uris = ""; suite_ok = 0; enabled_no = 0; next }
              /^#/ { next }
              tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
              tolower($1) == "uris:" { uris = $2 }
              tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) suite_ok = 1 }
              tolower($1) == "enabled:" && tolower($2) == "no" { enabled_no = 1 }
              END { if (!found) flush() }' "$f")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    echo "http://deb.debian.org/debian"
}

build_busybox() {
    local bb root tag=busybox:latest
    need busybox busybox-static
    bb=$(command -v busybox)
    # with usrmerge both paths are the same file; prefer the package's own path
    [ -x /bin/busybox ] && bb=/bin/busybox
    root="$WORK/busybox-root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,proc,sys,dev,var/log,var/run,www}
    install -d -m 1777 "$root/tmp"
    install -m 0755 "$bb" "$root/bin/busybox"
    local applet
    while read -r applet; do
        [ -n "$applet" ] && [ "$applet" != "bin/busybox" ] || continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -sf /bin/busybox "$root/$applet"
    done < <("$bb" --list-full)
    [ -e "$root/bin/sh" ] || ln -s /bin/busybox "$root/bin/sh"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
    echo "<h1>busybox</h1>" >"$root/www/index.html"
    # the root has no libc: this fails unless busybox is statically linked
    chroot "$root" /bin/sh -c 'true' 2>/dev/null \
        || die "$bb does not run in an empty root (not static?): apt-get install -y busybox-static"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -c . \
        | docker import \
            --change 'CMD ["sh"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --message "pacer: busybox-static $(busybox_version "$bb")" \
            - "$tag" >/dev/null
}

busybox_version() {  # e.g. "v1.35.0", from the banner line of `busybox --help`
    local banner
    banner=$("$1" --help 2>&1 || true)
    banner=${banner%%$'\n'*}
    banner=${banner#BusyBox }
    echo "${banner%% *}"
}

build_python() {
    local tag=python:3 arch mirror debs rootfs root
    need debootstrap debootstrap
    [ "$(id -u)" = 0 ] || die "building python:3 needs root (debootstrap)"
    arch=$(dpkg --print-architecture)
    debs="$CACHE_DIR/debootstrap-$SUITE-minbase-python3-$arch.tgz"
    rootfs="$CACHE_DIR/python3-$SUITE-$arch-rootfs-r$RECIPE.tar.gz"
    if [ ! -s "$rootfs" ]; then
        mirror=$(debian_mirror)
        if [ ! -s "$debs" ]; then
            say "downloading the $SUITE minbase+python3 packages from $mirror into $debs"
            debootstrap --variant=minbase --include=python3 \
                --make-tarball="$WORK/debs.tgz" "$SUITE" "$WORK/dl" "$mirror" \
                >"$WORK/debootstrap-download.log" 2>&1 \
                || { tail -n 30 "$WORK/debootstrap-download.log" >&2; die "debootstrap could not download from $mirror"; }
            mv "$WORK/debs.tgz" "$debs"
            rm -rf "$WORK/dl"
        else
            say "using cached packages $debs"
        fi
        root="$WORK/python-root"
        say "debootstrap $SUITE (minbase + python3) into a temporary root"
        debootstrap --variant=minbase --include=python3 --unpack-tarball="$debs" \
            "$SUITE" "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
        # keep it small: no package caches, lists, docs, man pages or locales
        rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
               "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
               "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
               "$root"/usr/share/locale/* "$root"/usr/share/lintian \
               "$root"/var/log/* "$root"/debootstrap
        find "$root/tmp" "$root/var/tmp" -mindepth 1 -delete
        chroot "$root" /usr/bin/python3 -c 'import http.server, json, sqlite3' \
            || die "python3 in the new root cannot import http.server"
        say "caching the root as $rootfs"
        tar --numeric-owner -C "$root" -czf "$WORK/rootfs.tar.gz" .
        mv "$WORK/rootfs.tar.gz" "$rootfs"
        rm -rf --one-file-system "$root"
    else
        say "using cached root $rootfs"
    fi
    docker import \
        --change 'CMD ["python3"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --message "pacer: debootstrap --variant=minbase --include=python3 $SUITE" \
        "$rootfs" "$tag" >/dev/null
}

for image in "${IMAGES[@]}"; do
    if [ "$FORCE" = 0 ] && has_image "$image"; then
        say "$image already present, skipped"
        continue
    fi
    start=$(date +%s)
    say "building $image"
    case "$image" in
        busybox:latest) build_busybox ;;
        python:3) build_python ;;
    esac
    has_image "$image" || die "$image is still missing after the build"
    size=$(docker image inspect --format '{{.Size}}' "$image")
    say "built $image ($((size / 1024 / 1024)) MiB) in $(( $(date +%s) - start )) s"
done
