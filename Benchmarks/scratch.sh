# Sourced by the benchmarks that compare against cp -r (import.sh,
# migrate.sh). Their outputs are set aside, not deleted, while anything is
# measured: this machine's ext4 skips inodes freed in the last minutes when
# it creates files, so cp -r of 20,000 files took 1.8 s right after a mass
# deletion against 0.3 s without one, and discport alike — noise larger
# than the ratios measured. `discard DIR` moves DIR into $DATA/trash (a
# rename: nothing is freed); `empty_trash` deletes the trash once nothing
# is measured any more: at the end of run.sh (which sets
# BENCH_KEEP_TRASH=1 for the scripts it runs), or at the exit of a script
# run alone.
discard() {
    mkdir -p "$DATA/trash"
    mv "$1" "$DATA/trash/$(basename "$1").$$.$RANDOM"
}
empty_trash() {
    [ -n "${BENCH_KEEP_TRASH:-}" ] || rm -rf "$DATA/trash"
}
