#!/usr/bin/env bash
# frugal doctor on a described machine (fake /proc, /sys and cgroup trees): an 8 GB
# Jetson with zram preferred over a disk swap, swappiness 100, THP always and a 4 GiB
# container limit must get the matching advice; and the real machine must not fail.
set -u
frugal=${FG_BIN:?}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
check() { if ! grep -q -- "$1" "$t/out"; then echo "FAIL: no '$1' in doctor's output"; fails=$((fails+1)); fi; }

mkdir -p $t/proc/self $t/proc/sys/vm $t/proc/device-tree $t/proc/4242 $t/sys/block/zram0 \
         $t/sys/kernel/mm/transparent_hugepage $t/cg/sys/fs/cgroup
cat > $t/proc/meminfo <<M
MemTotal:        7812500 kB
MemFree:          500000 kB
MemAvailable:    5000000 kB
Buffers:           10000 kB
Cached:          2000000 kB
SwapCached:            0 kB
SwapTotal:       8000000 kB
SwapFree:        7000000 kB
M
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0                              partition\t3906248\t\t1000000\t\t100\n/swapfile                               file\t\t4093748\t\t0\t\t-2\n' > $t/proc/swaps
echo 100 > $t/proc/sys/vm/swappiness
echo 0 > $t/proc/sys/vm/overcommit_memory
echo 50 > $t/proc/sys/vm/overcommit_ratio
printf 'NVIDIA Jetson Orin Nano Developer Kit\0' > $t/proc/device-tree/model
printf 'Name:\tbigapp\nVmRSS:\t 3000000 kB\nVmSwap:\t 100000 kB\n' > $t/proc/4242/status
echo '0::/' > $t/proc/self/cgroup
echo '30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw' > $t/proc/self/mountinfo
printf 'Name:\tfrugal\nVmRSS:\t 1000 kB\nRssAnon:\t 500 kB\nRssFile:\t 500 kB\nVmHWM:\t 1000 kB\n' > $t/proc/self/status
echo 4294967296 > $t/cg/sys/fs/cgroup/memory.max
echo 1073741824 > $t/cg/sys/fs/cgroup/memory.current
echo 4000000000 > $t/sys/block/zram0/disksize
echo '4096000000 1024000000 1100000000 0 1200000000 0 0 0 0' > $t/sys/block/zram0/mm_stat
echo 'always [always] madvise never' | sed 's/always \[always\]/[always]/' > $t/sys/kernel/mm/transparent_hugepage/enabled

FG_PROC_ROOT=$t/proc FG_SYS_ROOT=$t/sys FG_CGROUP_ROOT=$t/cg "$frugal" doctor >$t/out 2>&1
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: doctor exit $rc"; cat $t/out; fails=$((fails+1)); }
check "Jetson"
check "unified memory"
check "zram is the preferred swap"
check "swappiness is 100"
check "transparent huge pages are 'always'"
check "container's limit (4.00 GiB) is below the free RAM"
check "bigapp"
check "cgroup v2"
# THP 'never': the weights cannot have 2 MiB pages
echo 'always madvise [never]' > $t/sys/kernel/mm/transparent_hugepage/enabled
FG_PROC_ROOT=$t/proc FG_SYS_ROOT=$t/sys FG_CGROUP_ROOT=$t/cg "$frugal" doctor >$t/out 2>&1
check "transparent huge pages are 'never'"
echo 'always [madvise] never' > $t/sys/kernel/mm/transparent_hugepage/enabled

# the real machine: runs, prints the sections
"$frugal" doctor >$t/out 2>&1 || { echo "FAIL: doctor on this machine"; fails=$((fails+1)); }
check "^memory"
check "^advice"
check "^cpu"
check "cores          [0-9]* physical"
check "kernels        [a-z0-9]* (paths on this CPU: scalar"
# forcing the plain C kernels shows, with advice
FG_ISA=scalar "$frugal" doctor >$t/out 2>&1 || { echo "FAIL: doctor with FG_ISA=scalar"; fails=$((fails+1)); }
check "kernels        scalar (paths"
check "the matrix kernels are the plain C ones (FG_ISA forces them)"
# with a model that cannot fit the (fake) machine: exit 3 and advice naming what fits
FG_PROC_ROOT=$t/proc FG_SYS_ROOT=$t/sys FG_CGROUP_ROOT=$t/cg "$frugal" doctor "${FG_TEST_MODELS:?}/qwen2-tiny-f32.gguf" >$t/out 2>&1
[ $? -eq 0 ] || { echo "FAIL: tiny model should fit 4 GiB"; cat $t/out; fails=$((fails+1)); }
check "verdict      fits"
echo "doctor: $fails failures"
[ $fails -eq 0 ]
