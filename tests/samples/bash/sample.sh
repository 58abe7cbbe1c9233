#!/usr/bin/env bash
# Rotate and compress application logs.
set -euo pipefail

LOG_DIR="${LOG_DIR:-/var/log/myapp}"
RETENTION_DAYS=14
readonly ARCHIVE_DIR="$LOG_DIR/archive"
export VERBOSE=0
declare -a PATTERNS=("*.log" "*.out")

log_info() {
    if [[ "$VERBOSE" -eq 1 ]]; then
        echo "[info] $*" >&2
    fi
}

function ensure_dir {
    local dir="$1"
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        log_info "created $dir"
    fi
}

compress_file() {
    local file="$1"
    gzip -9 "$file"
    mv "$file.gz" "$ARCHIVE_DIR/"
    log_info "archived $file"
}

function prune_archive() {
    find "$ARCHIVE_DIR" -type f -mtime +"$RETENTION_DAYS" -delete
}

rotate_logs() {
    ensure_dir "$ARCHIVE_DIR"
    for pattern in "${PATTERNS[@]}"; do
        for file in "$LOG_DIR"/$pattern; do
            [ -f "$file" ] || continue
            compress_file "$file"
        done
    done
    prune_archive
}

main() {
    while getopts "v" opt; do
        case "$opt" in
            v) VERBOSE=1 ;;
            *) echo "usage: $0 [-v]" >&2; exit 2 ;;
        esac
    done
    rotate_logs
}

main "$@"

sig_demo() { # sigcomment
    echo "$1"
}
